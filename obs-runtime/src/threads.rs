//! obs's own threads (`obs`, `obs-blocking`, `obs-spans`, `obs-log`), marked as each starts: what
//! runs there (an OTLP export and the HTTP/2 client under it, the log writer) is never bridged
//! into obs's traces, or an export would make spans to export.

// Only the bridge asks; without it (and in builds with no thread of obs's own) the marks are unread.
#![cfg_attr(not(feature = "tracing-bridge"), allow(dead_code))]

use std::cell::Cell;

thread_local! {
    static OWN: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as obs's own; first thing on each of obs's threads.
pub(crate) fn mark_own() {
    OWN.with(|own| own.set(true));
}

/// Whether the calling thread is one of obs's own.
pub(crate) fn is_own() -> bool {
    OWN.try_with(Cell::get).unwrap_or(false)
}
