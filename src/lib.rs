//! Examples and integration tests of obs.
