//! The version contract between this crate and `obs-runtime`.
//!
//! Expanded code calls `obs_runtime::__private`, which changes with every release; the two crates
//! are released together under one version, and `obs-runtime` pins this crate to exactly its own.
//! A service that also depends on `obs-runtime-macros` directly, at another version, would get an
//! expansion written for another runtime. Every expansion therefore starts with a constant that
//! the runtime evaluates at compile time: a mismatched pair is a compile error naming both
//! versions, on the attribute, where it would otherwise compile against a changed meaning, or fail
//! on a missing private item (rustc reports unresolved paths before it evaluates constants, so
//! those errors, if any, come first). A copy of this crate with its features off (a direct
//! dependency of another version, which Cargo does not unify with obs-runtime's) expands to the
//! function as written: there is no expansion to check, and no instrumentation either.

use proc_macro2::TokenStream;
use quote::quote;

/// `const _: () = <runtime>::__private::expect_macros("<this crate's version>");`
pub(crate) fn check(krate: &syn::Path) -> TokenStream {
    let version = env!("CARGO_PKG_VERSION");
    quote!(const _: () = #krate::__private::expect_macros(#version);)
}

/// The function again: `head` (its outer attributes, visibility and signature), then a body of
/// its inner attributes, the contract's [`check`] and `body`.
pub(crate) fn function(
    head: TokenStream,
    inner_attrs: &[syn::Attribute],
    krate: &syn::Path,
    body: TokenStream,
) -> TokenStream {
    let check = check(krate);
    quote!(#head { #(#inner_attrs)* #check #body })
}
