//! The steady state of logging events whose fields are numbers and short strings allocates
//! nothing, on the calling thread or the writer's: counted by a global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

mod common;

use obs_runtime::logging::{LoggingConfig, Output};
use tracing_subscriber::layer::SubscriberExt as _;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_warm_logger_does_not_allocate() {
    let (layer, guard) =
        common::log_layer("svc", LoggingConfig::new().output(Output::Writer(Box::new(std::io::sink()))))
            .expect("starts");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let log = |round: u64| {
            tracing::info!(
                user_id = "12345",
                request_id = round,
                ip_address = "192.168.1.1",
                duration_ms = 150,
                ok = true,
                "User login successful"
            );
        };
        // Warm up: the per-thread buffers and the writer's grow to their size once.
        for round in 0..1_000 {
            log(round);
        }
        assert!(guard.flush());
        COUNTING.store(true, Ordering::SeqCst);
        for round in 0..10_000 {
            log(round);
        }
        assert!(guard.flush());
        COUNTING.store(false, Ordering::SeqCst);
    });
    assert_eq!(guard.written(), 11_000);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "allocations while logging 10,000 warm events");
}
