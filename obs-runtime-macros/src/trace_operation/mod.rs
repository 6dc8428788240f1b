//! `#[trace_operation]`: parse -> check -> expand.

mod args;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::errors::{Errors, with_original};

/// The whole macro. `enabled` is the `trace` feature: when off, arguments are still checked and
/// the function comes back exactly as written.
pub(crate) fn trace_operation(args: TokenStream, item: TokenStream, enabled: bool) -> TokenStream {
    let mut errors = Errors::default();
    let parsed_args = args::TraceArgs::from_tokens(args, &mut errors);
    let function = crate::item::parse_fn(item.clone(), "trace_operation", &mut errors);
    let site = function.as_ref().and_then(|function| check::check(parsed_args, function, &mut errors));
    match (errors.finish(), site, function) {
        (Ok(()), Some(site), Some(function)) if enabled => expand::expand(&site, function),
        (Ok(()), _, _) => item,
        (Err(error), _, _) => with_original(error, item),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::trace_operation;

    #[test]
    fn disabled_returns_the_function_token_for_token() {
        let item = quote! {
            pub async fn process(&self, user_id: &str) -> Result<u32, E> { self.load(user_id)?; Ok(1) }
        };
        let out = trace_operation(quote!("process_user_request", args, err), item.clone(), false);
        assert_eq!(out.to_string(), item.to_string());
    }

    #[test]
    fn enabled_names_the_span_and_keeps_the_signature() {
        let item = quote! { #[must_use] pub fn f(&self) -> u32 { 1 } };
        let out = trace_operation(quote!(), item, true).to_string();
        assert!(out.starts_with("# [must_use] pub fn f (& self) -> u32"), "{out}");
        assert!(out.contains("concat ! (:: core :: module_path ! () , \"::\" , \"f\")"), "{out}");
    }
}
