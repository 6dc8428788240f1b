//! Trace and span ids: a per-thread xorshift generator, seeded from the process's random hasher
//! keys. Not cryptographic (trace ids need not be); unique enough that collisions are negligible.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::context::{SpanId, TraceId};

thread_local! {
    static RNG: std::cell::Cell<u64> = std::cell::Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64));
    hasher.write_usize(&hasher as *const _ as usize);
    hasher.finish() | 1
}

fn next_random() -> u64 {
    RNG.with(|rng| {
        // xorshift64*
        let mut x = rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

pub(super) fn random_trace_id() -> TraceId {
    loop {
        let (high, low) = (next_random(), next_random());
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high.to_be_bytes());
        bytes[8..].copy_from_slice(&low.to_be_bytes());
        if let Some(id) = TraceId::from_bytes(bytes) {
            return id;
        }
    }
}

pub(super) fn random_span_id() -> SpanId {
    loop {
        if let Some(id) = SpanId::from_bytes(next_random().to_be_bytes()) {
            return id;
        }
    }
}
