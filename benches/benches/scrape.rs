//! What a scrape costs with the `prometheus` bridge: a `prometheus::Registry` of 10,000 series
//! gathered through obs (`register_registry`, obs's text encoder) against the same registry
//! served by the `prometheus` crate's own `TextEncoder`, interleaved in one run. Run with
//! `cargo bench --manifest-path benches/Cargo.toml --bench scrape` on a quiet machine.

use std::hint::black_box;
use std::time::Instant;

use obs_runtime::metrics::{Format, encode, prometheus::register_registry, set_series_limit};
use prometheus::{Encoder as _, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};

const BATCHES: usize = 15;
const SCRAPES_PER_BATCH: usize = 10;

/// 5,000 counter series and 5,000 histogram series (of 5 buckets: the histogram's series count
/// once here, as the series limit counts them).
fn registry() -> Registry {
    let registry = Registry::new();
    let requests = IntCounterVec::new(Opts::new("scrape_tenant_requests_total", "Requests"), &["tenant"]).expect("vec");
    let latency = HistogramVec::new(
        HistogramOpts::new("scrape_tenant_latency_seconds", "Latency").buckets(vec![0.01, 0.05, 0.1, 0.5, 1.0]),
        &["tenant"],
    )
    .expect("vec");
    registry.register(Box::new(requests.clone())).expect("registers");
    registry.register(Box::new(latency.clone())).expect("registers");
    for tenant in 0..5_000 {
        let tenant = format!("tenant-{tenant}");
        requests.with_label_values(&[&tenant]).inc_by(3);
        latency.with_label_values(&[&tenant]).observe(0.07);
    }
    registry
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Milliseconds per scrape of one batch of `scrape`.
fn batch(scrape: &dyn Fn() -> usize) -> f64 {
    let start = Instant::now();
    for _ in 0..SCRAPES_PER_BATCH {
        black_box(scrape());
    }
    start.elapsed().as_secs_f64() * 1e3 / SCRAPES_PER_BATCH as f64
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let batches = if quick { 3 } else { BATCHES };
    let registry = registry();
    for family in ["scrape_tenant_requests_total", "scrape_tenant_latency_seconds"] {
        set_series_limit(family, 5_000).expect("a limit");
    }
    register_registry(&registry).expect("registers");
    let crate_encoder = || {
        let mut body = Vec::with_capacity(1 << 20);
        TextEncoder::new().encode(&registry.gather(), &mut body).expect("encodes");
        body.len()
    };
    let through_obs = || encode(Format::Text).len();
    let through_obs_openmetrics = || encode(Format::OpenMetrics).len();
    assert!(encode(Format::Text).contains("scrape_tenant_requests_total{tenant=\"tenant-4999\"} 3\n"));
    let variants: [(&str, &dyn Fn() -> usize); 3] = [
        ("the prometheus crate: gather + TextEncoder", &crate_encoder),
        ("through obs: /metrics text (register_registry)", &through_obs),
        ("through obs: /metrics OpenMetrics", &through_obs_openmetrics),
    ];
    for (_, scrape) in &variants {
        batch(*scrape);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..batches {
        for (index, (_, scrape)) in variants.iter().enumerate() {
            samples[index].push(batch(*scrape));
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    println!(
        "## Scrape of a `prometheus` registry of 10,000 series (median of {batches} batches of {SCRAPES_PER_BATCH})\n"
    );
    println!("| variant | ms/scrape | x the crate |");
    println!("|---|---:|---:|");
    for ((name, _), ms) in variants.iter().zip(&medians) {
        println!("| {name} | {ms:.2} | {:.2} |", ms / medians[0]);
    }
}
