//! `testing::Scope`: tests that call the same instrumented functions at the same time each see
//! only their own counts and spans; what a scope shows is what the registry's own exposition
//! counted for its calls.

mod common;

use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use obs_runtime::metrics::Samples;
use obs_runtime::testing::Scope;
use obs_runtime::{trace_operation, track_request};

/// The handler every test here calls.
#[track_request("GET", "/scope/orders/{id}", buckets = [0.5, 5.0])]
fn get_order(id: u32) -> http::StatusCode {
    load(id);
    if id == 0 { http::StatusCode::NOT_FOUND } else { http::StatusCode::OK }
}

#[trace_operation("load_order")]
fn load(id: u32) {
    let _ = id;
}

#[track_request("GET", "/scope/async/{id}")]
async fn get_order_async(id: u32) -> http::StatusCode {
    tokio::task::yield_now().await;
    if id == 0 { http::StatusCode::NOT_FOUND } else { http::StatusCode::OK }
}

/// Waits (at most 2 s) until `count` callers have arrived: tests the harness runs in parallel
/// overlap; run one at a time (`--test-threads=1`), each goes on alone.
fn rendezvous(count: usize) {
    static ARRIVED: Mutex<usize> = Mutex::new(0);
    *ARRIVED.lock().expect("lock") += 1;
    let give_up = Instant::now() + Duration::from_secs(2);
    while *ARRIVED.lock().expect("lock") < count && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One of the two parallel tests: `ok` calls answered 200 and `missing` 404, interleaved with the
/// other test's calls of the same function.
fn calls_in_a_scope_of_its_own(ok: u64, missing: u64) {
    let scope = Scope::new();
    rendezvous(2);
    scope.run(|| {
        for call in 0..ok.max(missing) {
            if call < ok {
                get_order(1);
            }
            if call < missing {
                get_order(0);
            }
            std::thread::yield_now();
        }
    });
    let requests = scope.requests("GET", "/scope/orders/{id}");
    assert_eq!(requests.statuses(), [(200, ok), (404, missing)]);
    assert_eq!(requests.count(), ok + missing);
    assert_eq!(requests.with_status(500), 0);
}

#[test]
fn a_parallel_test_sees_only_its_own_calls() {
    calls_in_a_scope_of_its_own(300, 20);
}

#[test]
fn the_other_parallel_test_sees_only_its_own_calls() {
    calls_in_a_scope_of_its_own(170, 45);
}

#[test]
fn threads_in_lockstep_each_see_their_own_and_the_registry_sees_all() {
    let before = Samples::take();
    let step = Barrier::new(2);
    let (first, second) = std::thread::scope(|threads| {
        let run = |ok: u32, missing: u32| {
            let step = &step;
            threads.spawn(move || {
                let scope = Scope::new();
                for call in 0..40 {
                    // Both threads call in the same step, every step.
                    step.wait();
                    scope.run(|| {
                        get_order(if call < ok {
                            7
                        } else if call < ok + missing {
                            0
                        } else {
                            9
                        })
                    });
                }
                scope
            })
        };
        let (a, b) = (run(40, 0), run(25, 15));
        // A call outside any scope, while both are alive.
        get_order(3);
        (a.join().expect("joins"), b.join().expect("joins"))
    });
    assert_eq!(first.requests("GET", "/scope/orders/{id}").statuses(), [(200, 40)]);
    assert_eq!(second.requests("GET", "/scope/orders/{id}").statuses(), [(200, 25), (404, 15)]);
    // The registry counted every call, the other tests' included: at least these.
    let made = Samples::take().since(&before);
    let route = ("endpoint", "/scope/orders/{id}");
    assert!(made.get("http_requests_total", &[route, ("status", "200")]) >= (40 + 25 + 1) as f64);
    assert!(made.get("http_requests_total", &[route, ("status", "404")]) >= 15.0);
}

#[test]
fn a_scope_shows_what_the_registry_exposition_counted_for_its_calls() {
    // An endpoint only this test calls: the registry's difference is exactly the scope's calls.
    #[track_request("POST", "/scope/solo", buckets = [0.001, 0.01, 1.0])]
    fn solo(status: u16) -> http::StatusCode {
        if status == 201 {
            std::thread::sleep(Duration::from_millis(2));
        }
        http::StatusCode::from_u16(status).expect("a status")
    }
    let before = Samples::take();
    let scope = Scope::new();
    scope.run(|| {
        for status in [201, 201, 400, 201, 503] {
            solo(status);
        }
    });
    let made = Samples::take().since(&before);
    let mine = scope.metrics();
    let route = [("method", "POST"), ("endpoint", "/scope/solo")];
    for status in ["201", "400", "503"] {
        let labels = [route[0], route[1], ("status", status)];
        assert_eq!(mine.get("http_requests_total", &labels), made.get("http_requests_total", &labels), "{status}");
    }
    assert_eq!(mine.get("http_requests_total", &route), 5.0);
    for le in ["0.001", "0.01", "1.0", "+Inf"] {
        let labels = [route[0], route[1], ("le", le)];
        let name = "http_request_duration_seconds_bucket";
        assert_eq!(mine.get(name, &labels), made.get(name, &labels), "le={le}");
    }
    assert_eq!(mine.get("http_request_duration_seconds_count", &route), 5.0);
    let sum = |samples: &Samples| samples.get("http_request_duration_seconds_sum", &route);
    assert!((sum(&mine) - sum(&made)).abs() < 1e-6, "{} vs {}", sum(&mine), sum(&made));
    let requests = scope.requests("POST", "/scope/solo");
    // The three 201s slept 2 ms: above the 0.001 bound.
    assert_eq!(requests.at_most(1.0), Some(5));
    assert_eq!(requests.at_most(0.001).map(|fast| fast <= 2), Some(true));
    assert_eq!(requests.at_most(0.25), None, "not a bound of the site");
}

#[test]
fn futures_in_a_scope_count_on_any_worker_and_a_task_spawned_outside_it_does_not() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let run = |ok: u32, missing: u32| {
            let scope = Scope::new();
            let calls = scope.instrument(async move {
                for _ in 0..ok {
                    get_order_async(1).await;
                }
                for _ in 0..missing {
                    get_order_async(0).await;
                }
                // Spawned: runs outside the scope (instrument it to count it).
                tokio::spawn(get_order_async(5)).await.expect("the task");
            });
            (scope, tokio::spawn(calls))
        };
        let (first, first_calls) = run(30, 3);
        let (second, second_calls) = run(12, 9);
        first_calls.await.expect("first");
        second_calls.await.expect("second");
        assert_eq!(first.requests("GET", "/scope/async/{id}").statuses(), [(200, 30), (404, 3)]);
        assert_eq!(second.requests("GET", "/scope/async/{id}").statuses(), [(200, 12), (404, 9)]);
    });
}

#[test]
fn spans_of_a_scope_are_its_own_traces() {
    let (_, _guard) = common::spans::install();
    let step = Barrier::new(2);
    let (first, second) = std::thread::scope(|threads| {
        let run = |calls: u32| {
            let step = &step;
            threads.spawn(move || {
                let scope = Scope::new();
                for call in 0..6 {
                    step.wait();
                    if call < calls {
                        scope.run(|| get_order(call + 1));
                    }
                }
                scope
            })
        };
        let (a, b) = (run(6), run(2));
        (a.join().expect("joins"), b.join().expect("joins"))
    });
    let (first, second) = (first.spans(), second.spans());
    assert_eq!(first.named("load_order").len(), 6);
    assert_eq!(second.named("load_order").len(), 2);
    let ids = |spans: &obs_runtime::trace::InMemoryExporter| {
        spans.spans().iter().map(|span| span.context().trace_id()).collect::<std::collections::HashSet<_>>()
    };
    assert!(ids(&first).is_disjoint(&ids(&second)), "no trace in both");
}

#[test]
fn a_future_dropped_before_it_completes_records_its_cancellation_in_the_scope() {
    #[track_request("GET", "/scope/never")]
    async fn never() -> http::StatusCode {
        std::future::pending::<()>().await;
        http::StatusCode::OK
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let scope = Scope::new();
    runtime.block_on(async {
        let timed_out = tokio::time::timeout(Duration::from_millis(10), scope.instrument(never())).await;
        assert!(timed_out.is_err(), "it never completes");
    });
    // nginx's 499 "client closed request", recorded as the future dropped: in the scope.
    assert_eq!(scope.requests("GET", "/scope/never").statuses(), [(499, 1)]);
}

#[trace_operation("spawning_parent")]
async fn spawning_parent() {
    // A child on a task of its own (the trace carried over), not in the scope, that ends before
    // its parent.
    tokio::spawn(obs_runtime::trace::in_current_span(spawned_child())).await.expect("the child");
}

#[trace_operation("spawned_child")]
async fn spawned_child() {}

#[test]
fn spans_of_a_scope_trace_made_on_a_spawned_task_are_the_scope_s() {
    let (_, _guard) = common::spans::install();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let scope = Scope::new();
    runtime.block_on(scope.instrument(spawning_parent()));
    let spans = scope.spans();
    let [parent] = spans.named("spawning_parent").try_into().expect("one parent");
    let children = spans.named("spawned_child");
    assert_eq!(children.len(), 1, "{:#?}", spans.spans());
    assert_eq!(children[0].context().trace_id(), parent.context().trace_id());
}

#[test]
fn the_innermost_scope_records_and_a_scope_entered_again_goes_on_counting() {
    #[track_request("GET", "/scope/nested")]
    fn nested() -> http::StatusCode {
        http::StatusCode::OK
    }
    let (outer, inner) = (Scope::new(), Scope::new());
    outer.run(|| {
        nested();
        inner.run(|| {
            nested();
            // The same scope again, inside itself: still one count per call.
            inner.run(nested);
        });
        nested();
    });
    assert_eq!(outer.requests("GET", "/scope/nested").count(), 2);
    assert_eq!(inner.requests("GET", "/scope/nested").count(), 2);
}

#[test]
fn a_scope_counts_its_statuses_on_a_shard_an_exited_thread_filled_with_others() {
    #[track_request("GET", "/scope/statuses")]
    fn answer(status: u16) -> http::StatusCode {
        http::StatusCode::from_u16(status).expect("a status")
    }
    // A thread fills its shard's eight status slots, then exits: its shard is reused next.
    std::thread::spawn(|| {
        for status in 200..208 {
            answer(status);
        }
    })
    .join()
    .expect("joins");
    let statuses = std::thread::spawn(|| {
        let scope = Scope::new();
        scope.run(|| {
            answer(409);
            answer(200);
        });
        scope.requests("GET", "/scope/statuses").statuses()
    })
    .join()
    .expect("joins");
    assert_eq!(statuses, [(200, 1), (409, 1)]);
}
