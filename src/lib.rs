//! Examples and integration tests of obs. Its documentation is the README, so that every Rust
//! snippet of the README is compiled (and run, unless it serves a port) as a doctest.
#![doc = include_str!("../README.md")]

/// The migration guide (MIGRATING.md), compiled so its obs examples cannot drift from the API.
#[doc = include_str!("../obs-runtime/MIGRATING.md")]
pub mod migrating {}
