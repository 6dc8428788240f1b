//! `#[health_check]`: parse -> check -> expand.
//!
//! `#[health_check(name = "database", timeout = "2s", critical)] async fn database(pool: Pool) ->
//! Result<(), Error> { .. }` becomes `fn database(pool: Pool) -> HealthCheck`, a check that runs
//! the body with a clone of the arguments at each run: registrable in one line,
//! `checker.register(database(pool))`.

mod args;
mod expand;

use proc_macro2::TokenStream;
use syn::spanned::Spanned;

use crate::errors::{Errors, with_original};

/// The whole macro. `enabled` is the `health` feature: when off, arguments are still checked and
/// the function comes back exactly as written.
pub(crate) fn health_check(args: TokenStream, item: TokenStream, enabled: bool) -> TokenStream {
    let mut errors = Errors::default();
    let parsed_args = args::CheckArgs::from_tokens(args, &mut errors);
    let function = crate::item::parse_fn(item.clone(), "health_check", &mut errors);
    let arguments = function.as_ref().map(|function| check_fn(function, &mut errors));
    match (errors.finish(), function, arguments) {
        (Ok(()), Some(function), Some(arguments)) if enabled => expand::expand(&parsed_args, function, &arguments),
        (Ok(()), _, _) => item,
        (Err(error), _, _) => with_original(error, item),
    }
}

/// An argument of the check function: cloned into each run.
pub(crate) struct Argument {
    pub(crate) ident: syn::Ident,
    pub(crate) mutability: Option<syn::Token![mut]>,
    pub(crate) ty: syn::Type,
}

/// The function must be an `async fn` of named arguments, without `self`.
fn check_fn(function: &syn::ItemFn, errors: &mut Errors) -> Vec<Argument> {
    if function.sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            function.sig.fn_token.span,
            "#[health_check] goes on an `async fn`; for a blocking check, use `HealthCheck::blocking`",
        ));
    }
    if let syn::Safety::Unsafe(unsafe_token) = &function.sig.safety {
        errors.push(syn::Error::new(
            unsafe_token.span,
            "a health check cannot be an `unsafe fn`: it is called by the checker, which cannot uphold its contract",
        ));
    }
    let mut arguments = Vec::new();
    for input in &function.sig.inputs {
        match input {
            syn::FnArg::Receiver(receiver) => errors.push(syn::Error::new(
                receiver.self_token.span,
                "a health check cannot take `self`: pass what it needs as arguments (they are cloned into each run)",
            )),
            syn::FnArg::Typed(typed) => match &*typed.pat {
                syn::Pat::Ident(syn::PatIdent { by_ref: None, subpat: None, ident, mutability, .. }) => {
                    arguments.push(Argument { ident: ident.clone(), mutability: *mutability, ty: (*typed.ty).clone() });
                }
                other => errors.push(syn::Error::new(
                    other.span(),
                    "a health check's arguments are plain names (`pool: Pool`): each is cloned into every run",
                )),
            },
        }
    }
    arguments
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::health_check;

    #[test]
    fn disabled_returns_the_function_token_for_token() {
        let item = quote! {
            /// Pings the database.
            async fn database(pool: Pool) -> Result<(), Error> { pool.ping().await }
        };
        let out = health_check(quote!(name = "db", timeout = "2s", critical), item.clone(), false);
        assert_eq!(out.to_string(), item.to_string());
    }

    #[test]
    fn enabled_makes_a_function_returning_the_check() {
        let item = quote! { pub async fn database(mut pool: Pool) -> Result<(), Error> { pool.ping().await } };
        let out = health_check(quote!(timeout = "1.5s"), item, true).to_string();
        assert!(
            out.starts_with("pub fn database (pool : Pool) -> :: obs_runtime :: __private :: HealthCheck"),
            "{out}"
        );
        assert!(
            out.contains("health_check (\"database\" , :: core :: option :: Option :: Some (1500000000u64) , true"),
            "{out}"
        );
        assert!(out.contains("let mut pool = :: core :: clone :: Clone :: clone (& pool)"), "{out}");
    }

    #[test]
    fn no_timeout_leaves_the_runtime_default() {
        let item = quote! { async fn database() {} };
        let out = health_check(quote!(), item, true).to_string();
        assert!(out.contains("health_check (\"database\" , :: core :: option :: Option :: None , true"), "{out}");
    }
}
