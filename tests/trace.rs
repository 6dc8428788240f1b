//! `#[trace_operation]` and the manual span API, received in process: the tree (one trace id,
//! the right parents), the `operation.*` attributes, status and `exception` events, nesting across
//! `.await`, tasks and threads, redaction, propagation in and out of HTTP headers.

mod common;

use common::spans::{attribute, install, named, of_trace, one};
use obs_runtime::context::SpanContext;
use obs_runtime::trace::{self, RemoteParent, Span, SpanKind, Status};
use obs_runtime::{trace_operation, track_request};

#[derive(Debug)]
struct NotFound(u64);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}

#[trace_operation("process_user_request")]
fn process_user_request(user_id: u64) -> Result<String, NotFound> {
    obs_runtime::span_attributes!(user_id = user_id, "cache.hit" = false, api_token = "s3cr3t");
    let row = database_query(user_id)?;
    Ok(row)
}

#[trace_operation("database_query", kind = client, fields(db.system = "postgresql"))]
fn database_query(user_id: u64) -> Result<String, NotFound> {
    if user_id == 0 {
        return Err(NotFound(user_id));
    }
    Ok(format!("row {user_id}"))
}

fn root() -> Span {
    install();
    Span::new("test_root")
}

#[test]
fn nested_calls_make_one_tree_with_the_operation_attributes() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    root.in_scope(|| process_user_request(7)).expect("ok");
    drop(root);
    let spans = of_trace(trace_id);
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let (root, operation, query) =
        (one(&spans, "test_root"), one(&spans, "process_user_request"), one(&spans, "database_query"));
    assert_eq!(root.parent_span_id(), None);
    assert_eq!(operation.parent_span_id(), Some(root.context().span_id()));
    assert_eq!(query.parent_span_id(), Some(operation.context().span_id()));
    assert_eq!(attribute(operation, "operation.name").as_deref(), Some("process_user_request"));
    assert_eq!(attribute(operation, "operation.status").as_deref(), Some("success"));
    assert_eq!(attribute(operation, "user_id").as_deref(), Some("7"));
    assert_eq!(attribute(operation, "cache.hit").as_deref(), Some("false"));
    assert_eq!(attribute(operation, "api_token").as_deref(), Some("[REDACTED]"));
    assert_eq!(operation.status(), &Status::Ok);
    assert_eq!(operation.kind(), SpanKind::Internal);
    assert_eq!(query.kind(), SpanKind::Client);
    assert_eq!(attribute(query, "db.system").as_deref(), Some("postgresql"));
    assert!(query.start_unix_nanos() >= operation.start_unix_nanos());
    assert!(query.end_unix_nanos() <= operation.end_unix_nanos());
    assert!(operation.end_unix_nanos() >= operation.start_unix_nanos());
}

#[test]
fn an_error_sets_the_status_the_message_and_an_exception_event() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let result = root.in_scope(|| process_user_request(0));
    assert!(result.is_err());
    drop(root);
    let spans = of_trace(trace_id);
    for name in ["process_user_request", "database_query"] {
        let span = one(&spans, name);
        assert_eq!(span.status(), &Status::Error("user 0 not found".into()), "{name}");
        assert_eq!(attribute(span, "error.message").as_deref(), Some("user 0 not found"));
        let exception = span.events().iter().find(|event| event.name() == "exception").expect("an exception event");
        let message = exception.attributes().iter().find(|(key, _)| key == "exception.message").expect("a message");
        assert_eq!(message.1, obs_runtime::trace::Value::from("user 0 not found".to_owned()));
    }
    assert_eq!(attribute(one(&spans, "process_user_request"), "operation.status").as_deref(), Some("error"));
}

#[trace_operation("panics")]
fn panics() -> u32 {
    panic!("boom")
}

#[test]
fn a_panic_ends_the_span_as_an_error_and_keeps_unwinding() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let caught = root.in_scope(|| std::panic::catch_unwind(panics));
    assert!(caught.is_err(), "the panic went on");
    // The span was left: the root is current again.
    assert_eq!(root.in_scope(SpanContext::current), root.context());
    drop(root);
    let spans = of_trace(trace_id);
    let span = one(&spans, "panics");
    assert_eq!(span.status(), &Status::Error("panicked".into()));
    assert_eq!(attribute(span, "operation.status").as_deref(), Some("error"));
}

#[trace_operation("async_parent")]
async fn async_parent() -> u32 {
    tokio::task::yield_now().await;
    let child = tokio::spawn(trace::in_current_span(async_child())).await.expect("joins");
    let thread = std::thread::spawn(trace::bind(|| Span::new("thread_child").context())).join().expect("joins");
    // Catches: a bound closure that starts a new trace on the other thread instead of joining this one.
    assert_eq!(thread.map(|context| context.trace_id()), SpanContext::current().map(|context| context.trace_id()));
    child + 1
}

#[trace_operation("async_child")]
async fn async_child() -> u32 {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    obs_runtime::span_attributes!(step = "child");
    41
}

#[test]
fn async_spans_nest_across_awaits_tasks_and_threads() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let answer = runtime.block_on(root.scope_ref(async_parent()));
    assert_eq!(answer, 42);
    // Nothing stays current on this thread after the future is done.
    assert_eq!(SpanContext::current(), None);
    drop(root);
    let spans = of_trace(trace_id);
    let parent = one(&spans, "async_parent");
    let child = one(&spans, "async_child");
    let thread = one(&spans, "thread_child");
    assert_eq!(child.parent_span_id(), Some(parent.context().span_id()));
    assert_eq!(thread.parent_span_id(), Some(parent.context().span_id()));
    assert_eq!(attribute(child, "step").as_deref(), Some("child"));
    assert!(child.end_unix_nanos() - child.start_unix_nanos() >= 2_000_000, "the sleep is inside the span");
}

/// The `futures` crate's alias, recognised by name.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[trace_operation("boxed_lookup")]
fn boxed_lookup(id: u64) -> BoxFuture<'static, Result<u32, NotFound>> {
    Box::pin(async move {
        let child = async_child().await;
        if id == 0 { Err(NotFound(id)) } else { Ok(child) }
    })
}

#[test]
fn a_fn_returning_a_boxed_future_is_traced_over_its_run_and_from_its_output() {
    // Catches: a span that covers only the building of the future (the child would be its
    // sibling, and the `Err` the future gives unseen), as it would for a future type the
    // attribute did not recognise.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let future = root.in_scope(|| boxed_lookup(0));
    assert!(runtime.block_on(root.scope_ref(future)).is_err());
    drop(root);
    let spans = of_trace(trace_id);
    let lookup = one(&spans, "boxed_lookup");
    assert_eq!(one(&spans, "async_child").parent_span_id(), Some(lookup.context().span_id()));
    assert_eq!(lookup.status(), &Status::Error("user 0 not found".into()));
    assert_eq!(attribute(lookup, "operation.status").as_deref(), Some("error"));
}

#[trace_operation(args, skip(ignored), unredacted(token_count), ret)]
fn with_arguments(user: &str, password: &str, token_count: u32, ignored: u8, tags: Vec<&str>) -> usize {
    let _ = (password, ignored);
    user.len() + tags.len() + token_count as usize
}

#[trace_operation(args(user), fields(user.len = user.len(), "http.route" = "/users/{id}"))]
fn with_fields(user: String) -> String {
    user
}

#[test]
fn arguments_are_recorded_only_when_asked_and_secrets_are_redacted() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    root.in_scope(|| {
        assert_eq!(with_arguments("ada", "hunter2", 3, 9, vec!["a", "b"]), 8);
        assert_eq!(with_fields("bob".to_owned()), "bob");
        process_user_request(5).expect("ok");
    });
    drop(root);
    let spans = of_trace(trace_id);
    let span = one(&spans, "trace::with_arguments");
    assert_eq!(attribute(span, "user").as_deref(), Some("ada"));
    assert_eq!(attribute(span, "password").as_deref(), Some("[REDACTED]"));
    assert_eq!(attribute(span, "token_count").as_deref(), Some("3"), "unredacted on request");
    assert_eq!(attribute(span, "ignored"), None);
    assert_eq!(attribute(span, "tags").as_deref(), Some(r#"["a", "b"]"#), "Debug for the rest");
    assert_eq!(attribute(span, "return").as_deref(), Some("8"));
    let span = one(&spans, "trace::with_fields");
    assert_eq!(attribute(span, "user").as_deref(), Some("bob"));
    assert_eq!(attribute(span, "user.len").as_deref(), Some("3"));
    assert_eq!(attribute(span, "http.route").as_deref(), Some("/users/{id}"));
    // Without `args`, nothing is recorded of the arguments.
    assert_eq!(attribute(one(&spans, "database_query"), "user_id"), None);
}

#[trace_operation("stacked_outer_trace")]
#[track_request("GET", "/trace/stacked-a")]
fn stacked_a() -> Result<(), NotFound> {
    Err(NotFound(1))
}

#[track_request("GET", "/trace/stacked-b")]
#[trace_operation("stacked_inner_trace")]
async fn stacked_b() -> Result<(), NotFound> {
    tokio::task::yield_now().await;
    Ok(())
}

#[test]
fn track_request_and_trace_operation_stack_in_either_order() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    root.in_scope(|| {
        assert!(stacked_a().is_err());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        runtime.block_on(trace::in_current_span(stacked_b())).expect("ok");
    });
    drop(root);
    let spans = of_trace(trace_id);
    assert_eq!(one(&spans, "stacked_outer_trace").status(), &Status::Error("user 1 not found".into()));
    assert_eq!(one(&spans, "stacked_inner_trace").status(), &Status::Ok);
    assert_eq!(common::requests("GET", "/trace/stacked-a", "500"), 1.0);
    assert_eq!(common::requests("GET", "/trace/stacked-b", "200"), 1.0);
}

#[test]
fn context_comes_in_and_goes_out_through_http_headers() {
    install();
    let mut incoming = http::HeaderMap::new();
    incoming.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().expect("valid"));
    incoming.insert("tracestate", "congo=t61rcWkgMzE".parse().expect("valid"));
    let parent = trace::extract(&incoming).expect("a parent");
    let server = Span::builder("GET /users/{id}").kind(SpanKind::Server).parent(parent).start();
    let mut outgoing = http::Request::get("http://downstream:8080/profile?id=1").body(()).expect("request");
    let client = server.in_scope(|| trace::client_request(&mut outgoing));
    let traceparent = outgoing.headers()["traceparent"].to_str().expect("ascii").to_owned();
    let client_context = client.context().expect("a context");
    assert_eq!(traceparent, client_context.to_traceparent());
    assert_eq!(outgoing.headers()["tracestate"], "congo=t61rcWkgMzE", "tracestate is carried on");
    client.record_response(503);
    drop(client);
    server.record_response(200);
    drop(server);
    let spans = of_trace(client_context.trace_id());
    let server = one(&spans, "GET /users/{id}");
    let client = one(&spans, "GET");
    assert_eq!(server.context().trace_id().to_string(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(server.parent_span_id().map(|id| id.to_string()).as_deref(), Some("b7ad6b7169203331"));
    assert_eq!(client.parent_span_id(), Some(server.context().span_id()));
    assert_eq!(client.tracestate(), Some("congo=t61rcWkgMzE"));
    assert_eq!(attribute(client, "url.full").as_deref(), Some("http://downstream:8080/profile?id=1"));
    assert_eq!(attribute(client, "server.port").as_deref(), Some("8080"));
    assert_eq!(attribute(client, "http.response.status_code").as_deref(), Some("503"));
    assert!(matches!(client.status(), Status::Error(_)), "a client's 503 is an error");
    assert_eq!(server.status(), &Status::Unset, "a server's 200 is not");

    // An unsampled parent: the decision is carried on, nothing is recorded.
    let mut incoming = http::HeaderMap::new();
    incoming.insert("traceparent", "00-1af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00".parse().expect("valid"));
    let unsampled = Span::builder("unsampled").parent(trace::extract(&incoming).expect("a parent")).start();
    assert!(!unsampled.is_recording());
    let mut headers = http::HeaderMap::new();
    unsampled.in_scope(|| trace::inject(&mut headers));
    assert!(headers["traceparent"].to_str().expect("ascii").ends_with("-00"));
    drop(unsampled);
    assert!(named("unsampled").is_empty());
    // Under a local unsampled parent no span is made, and the parent's context goes out.
    let local =
        SpanContext::from_traceparent("00-2af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-00").expect("valid");
    let _attached = local.attach();
    let mut request = http::Request::get("http://downstream/x").body(()).expect("request");
    let client = trace::client_request(&mut request);
    assert!(!client.is_recording());
    assert_eq!(request.headers()["traceparent"], local.to_traceparent());
}

/// B3's debug flag, once a caller sets it, stays on the trace's spans here (and so goes out on
/// their B3 headers); a trace that did not have it does not get it.
#[test]
fn b3_debug_stays_on_the_trace() {
    install();
    let caller = SpanContext::from_traceparent("00-3af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .expect("valid")
        .with_b3_debug(true);
    let server = Span::builder("debug server").kind(SpanKind::Server).parent(RemoteParent::new(caller, None)).start();
    let child = server.in_scope(|| Span::new("debug child"));
    let mut request = http::Request::get("http://downstream/x").body(()).expect("request");
    let client = child.in_scope(|| trace::client_request(&mut request));
    for span in [&server, &child, &client] {
        let context = span.context().expect("sampled");
        assert!(context.is_b3_debug() && context.is_sampled());
    }
    assert!(request.headers()["traceparent"].to_str().expect("ascii").ends_with("-01"), "not a W3C flag");
    let plain = Span::builder("plain server").parent(RemoteParent::new(caller.with_b3_debug(false), None)).start();
    assert!(!plain.context().expect("sampled").is_b3_debug());
    assert!(!Span::new("plain root").context().expect("sampled").is_b3_debug());
}

#[trace_operation("cancelled")]
async fn never_finishes() {
    std::future::pending::<()>().await;
}

#[test]
fn a_dropped_future_still_ends_its_span() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(root.scope_ref(async {
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(5), never_finishes()).await;
        assert!(timed_out.is_err());
    }));
    drop(root);
    let spans = of_trace(trace_id);
    let cancelled = one(&spans, "cancelled");
    assert_eq!(cancelled.status(), &Status::Error("cancelled".into()));
    assert_eq!(attribute(cancelled, "operation.status").as_deref(), Some("error"), "not a success");
}

#[trace_operation("limited")]
fn limited() {
    for index in 0..200 {
        Span::current().set_attribute(format!("key_{index}"), index);
        Span::current().add_event("tick", Vec::new());
    }
    Span::current().set_attribute("key_0", "replaced");
}

#[test]
fn a_span_keeps_at_most_128_attributes_and_events_and_counts_the_rest() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    root.in_scope(limited);
    drop(root);
    let spans = of_trace(trace_id);
    let span = one(&spans, "limited");
    // The two operation attributes are added at export, outside the limit.
    assert_eq!(span.attributes().count(), 128 + 2);
    assert_eq!(span.dropped_attributes_count(), 72);
    assert_eq!(attribute(span, "key_0").as_deref(), Some("replaced"), "keys are unique");
    assert_eq!(span.events().len(), 128);
    assert_eq!(span.dropped_events_count(), 72);
}

#[trace_operation("logs_inside", err)]
fn logs_inside(fail: bool) -> Result<(), NotFound> {
    tracing::info!(user_id = "12345", "inside the operation");
    if fail { Err(NotFound(9)) } else { Ok(()) }
}

#[test]
fn log_lines_carry_the_trace_and_span_ids_of_the_exported_span() {
    use obs_runtime::logging::{LoggingConfig, Output};
    use tracing_subscriber::layer::SubscriberExt as _;

    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let output = common::Captured::default();
    let (layer, guard) =
        common::log_layer("svc", LoggingConfig::new().output(Output::Writer(Box::new(output.clone()))))
            .expect("starts");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        root.in_scope(|| {
            logs_inside(false).expect("ok");
            assert!(logs_inside(true).is_err());
        });
    });
    assert!(guard.flush());
    drop(root);
    let lines: Vec<serde_json::Value> =
        output.lines().iter().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    let spans = of_trace(trace_id);
    let exported: Vec<_> = spans.iter().filter(|span| span.name() == "logs_inside").collect();
    assert_eq!(exported.len(), 2);
    let inside: Vec<_> = lines.iter().filter(|line| line["message"] == "inside the operation").collect();
    assert_eq!(inside.len(), 2);
    for (line, span) in inside.iter().zip(&exported) {
        assert_eq!(line["trace_id"], span.context().trace_id().to_string());
        assert_eq!(line["span_id"], span.context().span_id().to_string());
    }
    // `err`: the failed call's ERROR line, in its span, with the error's text.
    let failed = lines.iter().find(|line| line["message"] == "operation failed").expect("an ERROR line");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["metadata"]["error"], "user 9 not found");
    assert_eq!(failed["metadata"]["operation"], "logs_inside");
    assert_eq!(failed["span_id"], exported[1].context().span_id().to_string());
}

#[track_request("GET", "/trace/combined/{id}", trace)]
async fn combined(fail: bool) -> Result<&'static str, NotFound> {
    tokio::task::yield_now().await;
    let _child = Span::new("combined_child");
    if fail { Err(NotFound(4)) } else { Ok("ok") }
}

// `()` says nothing of the failure: a failed request all the same.
#[track_request("GET", "/trace/combined-unit-error", trace)]
fn combined_unit_error() -> Result<u32, ()> {
    Err(())
}

#[track_request("POST", "/trace/combined-sync", trace = "sync_handler")]
fn combined_sync() -> u32 {
    7
}

#[test]
fn the_combined_form_records_metrics_and_a_server_span_in_one_expansion() {
    let root = root();
    let trace_id = root.context().expect("installed").trace_id();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(root.scope_ref(async {
        combined(false).await.expect("ok");
        assert!(combined(true).await.is_err());
    }));
    assert_eq!(root.in_scope(combined_sync), 7);
    assert_eq!(root.in_scope(combined_unit_error), Err(()));
    drop(root);
    let spans = of_trace(trace_id);
    let servers: Vec<_> = spans.iter().filter(|span| span.name() == "GET /trace/combined/{id}").collect();
    assert_eq!(servers.len(), 2, "{spans:#?}");
    assert_eq!(servers[0].kind(), SpanKind::Server);
    assert_eq!(attribute(servers[0], "http.route").as_deref(), Some("/trace/combined/{id}"));
    assert_eq!(attribute(servers[0], "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attribute(servers[0], "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attribute(servers[1], "http.response.status_code").as_deref(), Some("500"));
    assert_eq!(servers[1].status(), &Status::Error("user 4 not found".into()));
    let children: Vec<_> = spans.iter().filter(|span| span.name() == "combined_child").collect();
    assert_eq!(children[0].parent_span_id(), Some(servers[0].context().span_id()));
    assert_eq!(one(&spans, "sync_handler").kind(), SpanKind::Server);
    assert_eq!(common::requests("GET", "/trace/combined/{id}", "200"), 1.0);
    assert_eq!(common::requests("GET", "/trace/combined/{id}", "500"), 1.0);
    assert_eq!(common::requests("POST", "/trace/combined-sync", "200"), 1.0);
    let unit_error = one(&spans, "GET /trace/combined-unit-error");
    assert_eq!(attribute(unit_error, "http.response.status_code").as_deref(), Some("500"));
    assert_eq!(unit_error.status(), &Status::Error("()".into()));
    assert_eq!(common::requests("GET", "/trace/combined-unit-error", "500"), 1.0);
    assert_eq!(common::requests("GET", "/trace/combined-unit-error", "200"), 0.0);
}

#[test]
fn a_reused_span_record_carries_nothing_of_the_span_before() {
    common::spans::install();
    // Exported span records come back for reuse: many spans, two rounds apart, with and without
    // attributes and a status, must each export exactly what they recorded.
    for round in 0..3u64 {
        // In chunks below the default queue (2,048), flushed in between (which also hands the
        // records back for the next chunk): nothing is dropped for a full queue.
        for chunk in 0..4u64 {
            for i in chunk * 500..(chunk + 1) * 500 {
                // Children of a remote parent with a tracestate: their records come back with it.
                let remote = trace::RemoteParent::new(
                    SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                        .expect("a valid traceparent"),
                    Some("vendor=marked"),
                );
                let span = Span::builder("reuse_marked").parent(remote).start();
                span.set_attribute("round", round as i64);
                span.set_attribute("i", i as i64);
                if i % 2 == 0 {
                    span.set_error_status("odd one out");
                }
            }
            for _ in 0..500 {
                let _plain = Span::new("reuse_plain");
            }
            common::spans::named("reuse_plain");
        }
    }
    let plain = common::spans::named("reuse_plain");
    assert_eq!(plain.len(), 6_000);
    for span in &plain {
        assert_eq!(span.attributes().count(), 0, "{span:?}");
        assert_eq!(span.status(), &obs_runtime::trace::Status::Unset, "{span:?}");
        assert!(span.events().is_empty(), "{span:?}");
        // Catches: a reused record keeping the tracestate of the marked span it served before.
        assert_eq!(span.tracestate(), None, "{span:?}");
    }
    let marked = common::spans::named("reuse_marked");
    assert_eq!(marked.len(), 6_000);
    let mut seen = std::collections::HashSet::new();
    for span in &marked {
        let (round, i) = (common::spans::attribute(span, "round"), common::spans::attribute(span, "i"));
        assert!(seen.insert((round.clone(), i.clone())), "one span each: {round:?} {i:?}");
        let odd_one_out = i.as_deref().and_then(|i| i.parse::<u64>().ok()).is_some_and(|i| i % 2 == 0);
        assert_eq!(matches!(span.status(), obs_runtime::trace::Status::Error(_)), odd_one_out, "{span:?}");
        assert_eq!(span.tracestate(), Some("vendor=marked"), "{span:?}");
    }
}
