//! The obs spans of bridged `tracing` spans, kept by the layer instead of in the registry.
//!
//! Keeping an obs span in the registry's extensions costs a boxed extension and a map insert when
//! the `tracing` span is made, and a registry lookup plus a lock on its extensions every time it is
//! entered, recorded or closed: about 135 ns a span on this project's machine, more than tracing's
//! registry itself. And a span that is not bridged (one of an unsampled trace) paid the lookups too,
//! only to find nothing. The index keeps each bridged span's id in a place of its own, in a bucket
//! that is one cache line of ids, and the obs span beside it under a lock of its own: "not
//! bridged" is a few plain loads, and a bridged span is one uncontended lock away.
//!
//! Its answers are exact for the spans it holds: a bridged span's id is in its place from before
//! the id is handed out (`on_new_span`) until the span closes, and nothing else writes that place
//! meanwhile. A span that finds its bucket full is kept in the registry's extensions as before and
//! counted as unindexed; while any such span is alive, an id the index does not hold may still be
//! bridged ([`Found::Unsure`]), and the caller asks the registry.
//!
//! One index serves one layer in one subscriber (a clone of the layer gets an index of its own):
//! the registry never hands out an id that a span still alive holds, so no two spans in an index
//! share an id.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tracing_core::span::Id;

use super::Span;

/// Places per bucket: one cache line of ids.
const WAYS: usize = 8;
/// Buckets (a power of two): 4,096 places.
const BUCKETS: usize = 512;

#[repr(align(64))]
#[derive(Default)]
struct Bucket([AtomicU64; WAYS]);

/// The bridged spans alive.
pub(super) struct Index {
    ids: Box<[Bucket]>,
    /// The obs span of the id in the same place.
    spans: Box<[Kept<Option<Span>>]>,
    /// Bridged spans alive that found no free place in their bucket.
    unindexed: AtomicUsize,
}

/// What the index knows of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// In this place: bucket times [`WAYS`] plus way.
    Place(usize),
    /// Not bridged.
    Absent,
    /// Not here, but bridged spans are alive that are not either: ask the registry.
    Unsure,
}

impl Index {
    pub(super) fn new() -> Index {
        Index {
            ids: (0..BUCKETS).map(|_| Bucket::default()).collect(),
            spans: (0..BUCKETS * WAYS).map(|_| Kept::default()).collect(),
            unindexed: AtomicUsize::new(0),
        }
    }

    fn bucket_of(raw: u64) -> usize {
        // Fibonacci hashing: the registry's ids differ in their low bits (slot) and high bits
        // (generation, thread), and the product's top bits mix both.
        (raw.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKETS.trailing_zeros())) as usize
    }

    /// Keeps `span` as the obs span of `id`, or gives it back if `id`'s bucket is full (the caller
    /// keeps it in the registry, and must call [`Index::unindexed_closed`] when it closes).
    ///
    /// Called before the id is handed out, so every thread that later asks about it (having got
    /// the span from this one, which orders the two) sees it: relaxed ordering suffices.
    pub(super) fn insert(&self, id: &Id, span: Span) -> Result<(), Span> {
        let raw = id.into_u64();
        let bucket = Self::bucket_of(raw);
        for (way, place) in self.ids[bucket].0.iter().enumerate() {
            if place.load(Ordering::Relaxed) != 0 {
                continue;
            }
            // A place's id is written only under its lock: free when checked again under it.
            let mut kept = self.spans[bucket * WAYS + way].lock();
            if place.load(Ordering::Relaxed) == 0 {
                *kept = Some(span);
                place.store(raw, Ordering::Relaxed);
                return Ok(());
            }
        }
        self.unindexed.fetch_add(1, Ordering::Relaxed);
        Err(span)
    }

    /// Where `id`'s obs span is.
    #[inline]
    pub(super) fn find(&self, id: &Id) -> Found {
        let raw = id.into_u64();
        let bucket = Self::bucket_of(raw);
        if let Some(way) = self.ids[bucket].0.iter().position(|place| place.load(Ordering::Relaxed) == raw) {
            return Found::Place(bucket * WAYS + way);
        }
        if self.unindexed.load(Ordering::Relaxed) == 0 { Found::Absent } else { Found::Unsure }
    }

    /// `f` of the obs span in `place`, under its lock: `f` must not call into `tracing` (an event
    /// of the same span would wait for the lock for ever). `None` if the place is empty.
    pub(super) fn with<R>(&self, place: usize, f: impl FnOnce(&Span) -> R) -> Option<R> {
        self.spans[place].lock().as_ref().map(f)
    }

    /// Takes a closing span's obs span out, and frees its place.
    pub(super) fn take(&self, place: usize) -> Option<Span> {
        let mut kept = self.spans[place].lock();
        self.ids[place / WAYS].0[place % WAYS].store(0, Ordering::Relaxed);
        kept.take()
    }

    /// An unindexed span (one [`Index::insert`] gave back) has closed.
    pub(super) fn unindexed_closed(&self) {
        self.unindexed.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A place's obs span, under a spin lock. Held for a few instructions at a time (no user code, no
/// `tracing` call runs under it), by one thread in all but rare cases (a span entered on two
/// threads at once): cheaper than a `Mutex`, whose release is a second atomic read-modify-write.
#[derive(Default)]
struct Kept<T> {
    held: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through a `KeptGuard`, of which at most one exists at a time
// (`held`, taken with Acquire and given back with Release), as a `Mutex` does.
unsafe impl<T: Send> Sync for Kept<T> {}

// As obs's `Mutex`es, whose poisoning obs ignores (`crate::sync`): a panic while the lock is held
// leaves the place whole (a span written, taken, or entered), and the guard gives the lock back as
// it unwinds. The layer stays usable from code that catches panics, as it was with a `Mutex`.
impl<T> std::panic::RefUnwindSafe for Kept<T> {}
impl<T> std::panic::UnwindSafe for Kept<T> {}

impl<T> Kept<T> {
    fn lock(&self) -> KeptGuard<'_, T> {
        let mut spins = 0u32;
        while self.held.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                // The holder was descheduled: let it run.
                std::thread::yield_now();
            }
        }
        KeptGuard(self)
    }
}

struct KeptGuard<'a, T>(&'a Kept<T>);

impl<T> Deref for KeptGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `Kept::lock`).
        unsafe { &*self.0.value.get() }
    }
}

impl<T> DerefMut for KeptGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.0.value.get() }
    }
}

impl<T> Drop for KeptGuard<'_, T> {
    fn drop(&mut self) {
        self.0.held.store(false, Ordering::Release);
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index").field("unindexed", &self.unindexed.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids that all land in one bucket.
    fn same_bucket(count: usize) -> Vec<Id> {
        let first = Index::bucket_of(1);
        (1..).filter(|raw| Index::bucket_of(*raw) == first).take(count).map(Id::from_u64).collect()
    }

    fn place(found: Found) -> usize {
        match found {
            Found::Place(place) => place,
            other => panic!("not in a place: {other:?}"),
        }
    }

    #[test]
    fn the_spin_lock_excludes() {
        // Catches: a lock two threads hold at once (increments lost: a read-modify-write that is
        // not atomic as a whole, with no atomics in it).
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 50_000;
        let kept = Kept::<u64>::default();
        std::thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..ROUNDS {
                        let mut count = kept.lock();
                        let seen = *count;
                        std::hint::black_box(&seen);
                        *count = seen + 1;
                    }
                });
            }
        });
        assert_eq!(*kept.lock(), THREADS * ROUNDS);
    }

    #[test]
    fn holds_what_was_inserted_until_it_is_taken() {
        let index = Index::new();
        let (a, b) = (Id::from_u64(7), Id::from_u64(8));
        assert_eq!(index.find(&a), Found::Absent);
        assert!(index.insert(&a, Span::none()).is_ok());
        let at = place(index.find(&a));
        assert_eq!(index.with(at, |span| span.context()), Some(None));
        assert_eq!(index.find(&b), Found::Absent);
        assert!(index.take(at).is_some());
        assert_eq!(index.find(&a), Found::Absent);
        assert_eq!(index.with(at, |_| ()), None);
    }

    #[test]
    fn a_full_bucket_gives_the_span_back_and_makes_absent_unsure_until_it_closes() {
        let index = Index::new();
        let ids = same_bucket(WAYS + 1);
        for id in &ids[..WAYS] {
            assert!(index.insert(id, Span::none()).is_ok());
        }
        assert!(index.insert(&ids[WAYS], Span::none()).is_err());
        // The ninth is not in the index, and neither is any other id for certain.
        assert_eq!(index.find(&ids[WAYS]), Found::Unsure);
        assert_eq!(index.find(&Id::from_u64(u64::MAX)), Found::Unsure);
        // The eight are still found where they are.
        let places: Vec<usize> = ids[..WAYS].iter().map(|id| place(index.find(id))).collect();
        assert_eq!(places.iter().collect::<std::collections::HashSet<_>>().len(), WAYS);
        index.unindexed_closed();
        assert_eq!(index.find(&Id::from_u64(u64::MAX)), Found::Absent);
        // A place freed is taken again.
        assert!(index.take(places[0]).is_some());
        assert!(index.insert(&ids[WAYS], Span::none()).is_ok());
        assert_eq!(index.find(&ids[WAYS]), Found::Place(places[0]));
    }
}
