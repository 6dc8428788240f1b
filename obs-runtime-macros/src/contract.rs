//! The version contract between this crate and `obs-runtime`.
//!
//! Expanded code calls `obs_runtime::__private`, which changes with every release; the two crates
//! are released together under one version, and `obs-runtime` pins this crate to exactly its own.
//! A service that also depends on `obs-runtime-macros` directly, at another version, would get an
//! expansion written for another runtime. Every expansion therefore starts with a constant that
//! the runtime evaluates at compile time: a mismatched pair is a compile error naming both
//! versions, on the attribute, rather than an unrelated error about a missing private item (or
//! worse, code that compiles against a changed meaning).

use proc_macro2::TokenStream;
use quote::quote;

/// `const _: () = <runtime>::__private::expect_macros("<this crate's version>");`
pub(crate) fn check(krate: &syn::Path) -> TokenStream {
    let version = env!("CARGO_PKG_VERSION");
    quote!(const _: () = #krate::__private::expect_macros(#version);)
}
