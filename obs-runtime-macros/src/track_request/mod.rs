//! `#[track_request]`: parse -> check -> expand.

mod args;
mod check;
mod expand;

use proc_macro2::TokenStream;

use crate::errors::{Errors, with_original};

/// The whole macro. `enabled` is the `metrics` feature: when off, arguments are still checked and
/// the function comes back exactly as written.
pub(crate) fn track_request(args: TokenStream, item: TokenStream, enabled: bool) -> TokenStream {
    let mut errors = Errors::default();
    let parsed_args = args::RequestArgs::from_tokens(args, &mut errors);
    let function = crate::item::parse_fn(item.clone(), "track_request", &mut errors);
    let site = check::check(parsed_args, &mut errors);
    match (errors.finish(), site, function) {
        (Ok(()), Some(site), Some(function)) if enabled => expand::expand(&site, function),
        (Ok(()), _, _) => item,
        (Err(error), _, _) => with_original(error, item),
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::track_request;

    #[test]
    fn disabled_returns_the_function_token_for_token() {
        let item = quote! {
            /// Lists users.
            #[must_use]
            pub async fn get_users<'a, T: Clone>(&'a self, x: impl Into<T>) -> Result<Vec<T>, E>
            where T: Send {
                let v = self.load(x)?;
                if v.is_empty() { return Ok(v); }
                Ok(v)
            }
        };
        let out = track_request(quote!("GET", "/users", buckets = [0.1, 1]), item.clone(), false);
        assert_eq!(out.to_string(), item.to_string());
    }

    #[test]
    fn disabled_still_reports_misuse() {
        let item = quote! { fn f() {} };
        let out = track_request(quote!("GET", "/users", bukets = [0.1]), item, false);
        assert!(out.to_string().contains("compile_error"), "{out}");
        assert!(out.to_string().contains("unknown option `bukets`"), "{out}");
    }

    #[test]
    fn enabled_wraps_the_body_and_keeps_the_signature() {
        let item = quote! { #[must_use] pub fn f(&self) -> u32 { 1 } };
        let out = track_request(quote!(method = "GET", endpoint = "/f"), item, true).to_string();
        assert!(out.starts_with("# [must_use] pub fn f (& self) -> u32"), "{out}");
        assert!(out.contains(":: obs_runtime :: __private :: RequestSite :: new (\"GET\" , \"/f\""), "{out}");
    }

    #[test]
    fn crate_override_changes_every_path() {
        let item = quote! { fn f() {} };
        let out = track_request(quote!("GET", "/f", crate = my::obs), item, true).to_string();
        assert!(!out.contains("obs_runtime"), "{out}");
        assert!(out.contains("my :: obs :: __private :: RequestSite :: new"), "{out}");
    }
}
