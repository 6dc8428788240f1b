//! Locks that keep working after a panic.
//!
//! A lock is poisoned when a thread panics while holding it. obs takes the data anyway: the panic
//! was in user code obs called (a health check, an alert condition, a collector, a callback) or in
//! a thread that is gone, and the data under obs's locks (counts, queues, tables, states) is whole
//! between any two statements that touch it. Refusing it would turn one panic into a pillar that
//! stops working for the rest of the process (no more scrapes, spans, log lines or alerts), or
//! into a panic in the host application. Each helper is exactly
//! `.unwrap_or_else(PoisonError::into_inner)`, inlined, so the hot paths cost what they did.

// Which of these a build uses depends on its features.
#![allow(dead_code)]

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// `mutex.lock()`, taking the data of a poisoned lock.
#[inline]
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `mutex.get_mut()`, taking the data of a poisoned lock.
#[inline]
pub(crate) fn get_mut<T: ?Sized>(mutex: &mut Mutex<T>) -> &mut T {
    mutex.get_mut().unwrap_or_else(PoisonError::into_inner)
}

/// `lock.read()`, taking the data of a poisoned lock.
#[inline]
pub(crate) fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// `lock.write()`, taking the data of a poisoned lock.
#[inline]
pub(crate) fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// `condvar.wait(guard)`, taking the data of a poisoned lock.
#[inline]
pub(crate) fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
    condvar.wait(guard).unwrap_or_else(PoisonError::into_inner)
}

/// `condvar.wait_timeout(guard, timeout)`, taking the data of a poisoned lock; the guard only (a
/// caller that waits for a state checks the state, not whether the wait timed out).
#[inline]
pub(crate) fn wait_timeout<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
    condvar.wait_timeout(guard, timeout).unwrap_or_else(PoisonError::into_inner).0
}
