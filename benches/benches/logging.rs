//! The cost of one log event with five fields, written as JSON to a sink that discards bytes:
//! obs's layer against tracing-subscriber's own `fmt().json()`, in one run.
//!
//! obs formats on the calling thread and hands the line to its writer thread; the "caller" row
//! times what the application pays, the "end to end" row also waits until the writer has written
//! the batch. tracing-subscriber writes on the calling thread. A plain harness: 15 interleaved
//! batches of 100,000 events per variant, median batch. Run with
//! `cargo bench --manifest-path benches/Cargo.toml --bench logging` on a quiet machine.

use std::time::Instant;

use obs_runtime::logging::{LoggingConfig, Output};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt as _;

const EVENTS_PER_BATCH: u64 = 100_000;
const BATCHES: usize = 15;

#[inline(never)]
fn event(round: u64) {
    tracing::info!(
        user_id = "12345",
        ip_address = "192.168.1.1",
        duration_ms = 150,
        ok = true,
        request_id = round,
        "User login successful"
    );
}

fn batch(dispatch: &Dispatch) -> f64 {
    tracing::dispatcher::with_default(dispatch, || {
        let started = Instant::now();
        for round in 0..EVENTS_PER_BATCH {
            event(round);
        }
        started.elapsed().as_nanos() as f64 / EVENTS_PER_BATCH as f64
    })
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    // Big enough that no line is dropped (checked below): dropping would look cheap.
    let config = LoggingConfig::new().buffer_bytes(256 << 20).output(Output::Writer(Box::new(std::io::sink())));
    let mut obs_guard =
        obs_runtime::Obs::builder().service("user-service").without_http_server().init().expect("obs starts");
    let layer = obs_guard.logging_layer(config).expect("obs's layer starts");
    let guard = obs_guard.logs().expect("the layer's writer");
    let obs = Dispatch::new(tracing_subscriber::registry().with(layer));
    let peer = Dispatch::new(
        tracing_subscriber::fmt().json().with_writer(std::io::sink).with_max_level(tracing::Level::INFO).finish(),
    );
    let none = Dispatch::none();

    let (mut obs_caller, mut obs_end_to_end, mut peer_samples, mut none_samples) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..BATCHES {
        none_samples.push(batch(&none));
        peer_samples.push(batch(&peer));
        let started = Instant::now();
        obs_caller.push(batch(&obs));
        assert!(guard.flush(), "the writer keeps up within 5 s");
        obs_end_to_end.push(started.elapsed().as_nanos() as f64 / EVENTS_PER_BATCH as f64);
    }
    assert_eq!(guard.dropped(), 0, "no line dropped, or the comparison would be unfair");

    let rows = [
        ("no subscriber (the floor of `tracing::info!`)", median(none_samples)),
        ("tracing-subscriber `fmt().json()`", median(peer_samples)),
        ("obs JSON layer, caller's cost", median(obs_caller)),
        ("obs JSON layer, end to end (caller + writer thread)", median(obs_end_to_end)),
    ];
    let peer = rows[1].1;
    println!(
        "## One event with five fields, JSON to a discarding sink (median of {BATCHES} batches of {EVENTS_PER_BATCH})\n"
    );
    println!("| variant | ns/event | x tracing-subscriber json |");
    println!("|---|---:|---:|");
    for (name, nanos) in rows {
        println!("| {name} | {nanos:.1} | {:.2} |", nanos / peer);
    }
}
