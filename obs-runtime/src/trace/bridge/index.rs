//! The obs spans of bridged `tracing` spans, kept by the layer instead of in the registry.
//!
//! Keeping an obs span in the registry's extensions costs a boxed extension and a map insert when
//! the `tracing` span is made, and a registry lookup plus a lock on its extensions every time it is
//! entered, recorded or closed: about 135 ns a span on this project's machine, more than tracing's
//! registry itself. And a span that is not bridged (one of an unsampled trace's descendants) paid
//! the lookups too, only to find nothing. The index keeps each bridged span's id in a place of its
//! own, in a bucket that is one cache line (seven ids and the bucket's overflow count), and the obs
//! span beside it under a lock of its own: "not bridged" is a few plain loads, and a bridged span
//! is one uncontended lock away.
//!
//! Its answers are exact for the spans it holds: a bridged span's id is in its place from before
//! the id is handed out (`on_new_span`) until the span closes, a place's id is only written under
//! the place's lock, and a caller that finds an id checks it again under that lock (a caller
//! holding no reference on the span, with a raw `Id`, may find the place given to another span in
//! between). A span that finds its bucket full is kept in the registry's extensions as before and
//! counted in the bucket; while that count is not zero, an id of that bucket that the index does
//! not hold may still be bridged ([`Found::Unsure`]), and the caller asks the registry. Other
//! buckets are not concerned.
//!
//! One index serves one layer in one subscriber (a clone of the layer gets an index of its own):
//! the registry never hands out an id that a span still alive holds, so no two spans in an index
//! share an id. A span whose close the layer never sees (a layer below it panicked in its
//! `on_close`) keeps its place until its id is handed out again, which may be never, and is ended
//! then; one kept in the registry's extensions ends, and gives its bucket's count back, when the
//! registry clears it.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing_core::span::Id;

use super::Span;

/// Places per bucket: with the bucket's overflow count, one cache line.
const WAYS: usize = 7;
/// Buckets (a power of two): 3,584 places.
const BUCKETS: usize = 512;

#[repr(align(64))]
#[derive(Default)]
struct Bucket {
    ids: [AtomicU64; WAYS],
    /// Bridged spans alive whose id belongs here but found no free place.
    overflow: AtomicU64,
}

/// The bridged spans alive.
pub(super) struct Index {
    buckets: Box<[Bucket]>,
    /// The obs span of the id in the same place.
    spans: Box<[Kept<Option<Span>>]>,
}

/// What the index knows of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// In this place (bucket times [`WAYS`] plus way), when last looked.
    Place(usize),
    /// Not bridged.
    Absent,
    /// Not here, but spans of this bucket are alive that are not either: ask the registry.
    Unsure,
}

impl Index {
    pub(super) fn new() -> Index {
        Index {
            buckets: (0..BUCKETS).map(|_| Bucket::default()).collect(),
            spans: (0..BUCKETS * WAYS).map(|_| Kept::default()).collect(),
        }
    }

    fn bucket_of(raw: u64) -> usize {
        // Fibonacci hashing: the registry's ids differ in their low bits (slot) and high bits
        // (generation, thread), and the product's top bits mix both.
        (raw.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKETS.trailing_zeros())) as usize
    }

    fn id_at(&self, place: usize) -> &AtomicU64 {
        &self.buckets[place / WAYS].ids[place % WAYS]
    }

    /// Keeps `span` as the obs span of `id`, or gives it back if `id`'s bucket is full (the caller
    /// keeps it in the registry, and calls [`Index::overflow_closed`] when it closes).
    ///
    /// Called before the id is handed out, so every thread that later asks about it (having got
    /// the span from this one, which orders the two) sees it: relaxed ordering suffices.
    pub(super) fn insert(&self, id: &Id, span: Span) -> Result<(), Span> {
        let raw = id.into_u64();
        let bucket = Self::bucket_of(raw);
        let ids = &self.buckets[bucket].ids;
        // The id itself first: still here, it is a span whose close this layer never saw.
        let stale = ids.iter().position(|place| place.load(Ordering::Relaxed) == raw);
        for way in stale.into_iter().chain(0..WAYS) {
            let place = &ids[way];
            let held = place.load(Ordering::Relaxed);
            if held != 0 && held != raw {
                continue;
            }
            // A place's id is written only under its lock: looked at again under it.
            let mut kept = self.spans[bucket * WAYS + way].lock();
            let held = place.load(Ordering::Relaxed);
            if held == 0 || held == raw {
                let unclosed = kept.replace(span);
                place.store(raw, Ordering::Relaxed);
                drop(kept);
                // Ended now, out of the lock.
                drop(unclosed);
                return Ok(());
            }
        }
        self.buckets[bucket].overflow.fetch_add(1, Ordering::Relaxed);
        Err(span)
    }

    /// Where `id`'s obs span is.
    #[inline]
    pub(super) fn find(&self, id: &Id) -> Found {
        let raw = id.into_u64();
        let index = Self::bucket_of(raw);
        let bucket = &self.buckets[index];
        if let Some(way) = bucket.ids.iter().position(|place| place.load(Ordering::Relaxed) == raw) {
            return Found::Place(index * WAYS + way);
        }
        if bucket.overflow.load(Ordering::Relaxed) == 0 { Found::Absent } else { Found::Unsure }
    }

    /// `f` of the obs span of `id` in `place`, under the place's lock: `f` must not call into
    /// `tracing`, nor panic (an event logged by a panic hook would wait for the lock for ever).
    /// `None` if the place holds another id by now.
    pub(super) fn with<R>(&self, place: usize, id: &Id, f: impl FnOnce(&Span) -> R) -> Option<R> {
        let kept = self.spans[place].lock();
        if self.id_at(place).load(Ordering::Relaxed) != id.into_u64() {
            return None;
        }
        kept.as_ref().map(f)
    }

    /// Takes the obs span of `id` out of `place`, and frees the place; `None` if the place holds
    /// another id by now.
    pub(super) fn take(&self, place: usize, id: &Id) -> Option<Span> {
        let mut kept = self.spans[place].lock();
        let at = self.id_at(place);
        if at.load(Ordering::Relaxed) != id.into_u64() {
            return None;
        }
        at.store(0, Ordering::Relaxed);
        kept.take()
    }

    /// A span of `id` that [`Index::insert`] gave back has closed.
    pub(super) fn overflow_closed(&self, id: &Id) {
        self.buckets[Self::bucket_of(id.into_u64())].overflow.fetch_sub(1, Ordering::Relaxed);
    }

    /// Spans held in places and spans counted as overflow.
    #[cfg(test)]
    pub(super) fn census(&self) -> (usize, u64) {
        let held = self.buckets.iter().flat_map(|bucket| &bucket.ids).filter(|id| id.load(Ordering::Relaxed) != 0);
        let overflow = self.buckets.iter().map(|bucket| bucket.overflow.load(Ordering::Relaxed)).sum();
        (held.count(), overflow)
    }
}

/// A place's obs span, under a spin lock. Held for the few instructions of the bridge's work on
/// one span (no user code, no `tracing` call), by one thread in all but rare cases (a span entered
/// on two threads at once): cheaper than a `Mutex`, whose release is a second atomic
/// read-modify-write. Aligned to a cache line, so that two places never share one.
#[repr(align(64))]
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
            // Wait on plain loads, not on writes that take the line from the holder.
            while self.held.load(Ordering::Relaxed) {
                if spins < 64 {
                    spins += 1;
                    std::hint::spin_loop();
                } else {
                    // The holder was descheduled: let it run.
                    std::thread::yield_now();
                }
            }
        }
        KeptGuard { kept: self, _not_sync_unless_t_is: PhantomData }
    }
}

struct KeptGuard<'a, T> {
    kept: &'a Kept<T>,
    /// Shared only if `T` may be (as `MutexGuard`): `&Kept<T>` alone would make it `Sync` for any
    /// `T: Send`.
    _not_sync_unless_t_is: PhantomData<&'a mut T>,
}

impl<T> Deref for KeptGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `Kept::lock`).
        unsafe { &*self.kept.value.get() }
    }
}

impl<T> DerefMut for KeptGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes this the only reference.
        unsafe { &mut *self.kept.value.get() }
    }
}

impl<T> Drop for KeptGuard<'_, T> {
    fn drop(&mut self) {
        self.kept.held.store(false, Ordering::Release);
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Index").finish_non_exhaustive()
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
    fn a_bucket_and_its_lock_are_one_cache_line_each() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::size_of::<Kept<Option<Span>>>(), 64);
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
        assert_eq!(index.with(at, &a, |span| span.context()), Some(None));
        assert_eq!(index.find(&b), Found::Absent);
        assert!(index.take(at, &a).is_some());
        assert_eq!(index.find(&a), Found::Absent);
        assert_eq!(index.with(at, &a, |_| ()), None);
        assert_eq!(index.census(), (0, 0));
    }

    #[test]
    fn a_place_given_to_another_span_since_it_was_found_is_not_used() {
        // A caller holding a raw id (no reference on its span) finds it, the span closes, and a
        // new span of the same bucket takes the place before the caller locks it.
        let index = Index::new();
        let ids = same_bucket(2);
        assert!(index.insert(&ids[0], Span::none()).is_ok());
        let found = place(index.find(&ids[0]));
        assert!(index.take(found, &ids[0]).is_some());
        assert!(index.insert(&ids[1], Span::none()).is_ok());
        assert_eq!(index.find(&ids[1]), Found::Place(found));
        assert_eq!(index.with(found, &ids[0], |_| ()), None);
        assert!(index.take(found, &ids[0]).is_none());
        assert_eq!(index.with(found, &ids[1], |_| ()), Some(()));
    }

    #[test]
    fn a_full_bucket_gives_the_span_back_and_makes_only_its_own_ids_unsure() {
        let index = Index::new();
        let ids = same_bucket(WAYS + 2);
        for id in &ids[..WAYS] {
            assert!(index.insert(id, Span::none()).is_ok());
        }
        assert!(index.insert(&ids[WAYS], Span::none()).is_err());
        assert_eq!(index.census(), (WAYS, 1));
        // The eighth is not in the index, nor for certain is any other id of that bucket.
        assert_eq!(index.find(&ids[WAYS]), Found::Unsure);
        assert_eq!(index.find(&ids[WAYS + 1]), Found::Unsure);
        // Another bucket's ids are answered for certain.
        let elsewhere = (1..).map(Id::from_u64).find(|id| Index::bucket_of(id.into_u64()) != Index::bucket_of(1));
        assert_eq!(index.find(&elsewhere.expect("another bucket")), Found::Absent);
        // The seven are still found where they are.
        let places: Vec<usize> = ids[..WAYS].iter().map(|id| place(index.find(id))).collect();
        assert_eq!(places.iter().collect::<std::collections::HashSet<_>>().len(), WAYS);
        index.overflow_closed(&ids[WAYS]);
        assert_eq!(index.find(&ids[WAYS + 1]), Found::Absent);
        // A place freed is taken again.
        assert!(index.take(places[0], &ids[0]).is_some());
        assert!(index.insert(&ids[WAYS], Span::none()).is_ok());
        assert_eq!(index.find(&ids[WAYS]), Found::Place(places[0]));
    }

    #[test]
    fn an_id_taken_again_while_still_held_replaces_the_span_that_never_closed() {
        // Also when a place before it in the bucket is free by then: the id is never held twice.
        let index = Index::new();
        let ids = same_bucket(2);
        assert!(index.insert(&ids[0], Span::none()).is_ok());
        assert!(index.insert(&ids[1], Span::none()).is_ok());
        let (first, second) = (place(index.find(&ids[0])), place(index.find(&ids[1])));
        assert!(index.take(first, &ids[0]).is_some());
        assert!(index.insert(&ids[1], Span::none()).is_ok());
        assert_eq!(index.find(&ids[1]), Found::Place(second));
        assert_eq!(index.census(), (1, 0));
    }
}
