//! `obs_alert_evaluations_total` counts every evaluation pass, in a process of its own (the
//! counter is process-wide: other tests' managers would move it too).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use obs_runtime::alerts::{AlertManager, AlertRule, Condition};

#[test]
fn every_evaluation_pass_is_counted_once() {
    // Catches: passes of the background thread or of evaluate_at not counted (the counter stuck
    // at zero), or counted per rule instead of per pass.
    let passes = Arc::new(AtomicUsize::new(0));
    let counted = passes.clone();
    let rule = |name: &str| AlertRule::builder(name).condition(Condition::gauge("evaluations_test_gauge").above(1.0));
    let manager = AlertManager::builder()
        // Called once per pass: the count the test compares with.
        .rule(
            AlertRule::builder("counting")
                .condition(
                    Condition::custom("passes", move |_| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        Some(0.0)
                    })
                    .above(1.0),
                )
                .build()
                .expect("a valid rule"),
        )
        .rule(rule("second").build().expect("a valid rule"))
        .rule(rule("third").build().expect("a valid rule"))
        .interval(Duration::from_millis(20))
        .build()
        .expect("a valid manager");
    let evaluations = || common::sample(&common::scrape(), "obs_alert_evaluations_total", &[]);
    // By hand: three passes over three rules are three evaluations.
    let t0 = SystemTime::now();
    for second in 0..3 {
        manager.evaluate_at(t0 + Duration::from_secs(second));
    }
    assert_eq!(passes.load(Ordering::SeqCst), 3);
    assert_eq!(evaluations(), Some(3.0));
    // On the background thread: at least five more passes, then stopped; each one counted.
    let guard = manager.start().expect("the manager starts");
    let give_up = Instant::now() + Duration::from_secs(60);
    while passes.load(Ordering::SeqCst) < 8 {
        assert!(Instant::now() < give_up, "the evaluator did not run");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(guard);
    let total = passes.load(Ordering::SeqCst);
    assert_eq!(evaluations(), Some(total as f64));
}
