//! Every check of `#[track_request]`'s arguments, before any code is generated.

use proc_macro2::Span;

use super::args::RequestArgs;
use crate::errors::Errors;

/// The most bucket bounds a site may have; the runtime keeps per-thread shards of fixed size.
/// Must equal `obs_runtime::metrics::MAX_BUCKETS`.
pub(crate) const MAX_BUCKETS: usize = 32;

/// A call site known to be good: what expansion needs, nothing that can fail.
pub(crate) struct Site {
    pub(crate) method: syn::LitStr,
    pub(crate) endpoint: syn::LitStr,
    pub(crate) buckets: Option<Vec<f64>>,
    pub(crate) track_concurrency: bool,
    pub(crate) log_errors: bool,
    /// The server span's name, when `trace` is on.
    pub(crate) trace: Option<String>,
    pub(crate) krate: syn::Path,
}

pub(crate) fn check(args: RequestArgs, errors: &mut Errors) -> Option<Site> {
    let before = errors.is_empty();
    match (&args.method, &args.endpoint) {
        (None, _) if args.method_written => {}
        (Some(_), None) if args.endpoint_written => {}
        (None, _) => errors.push(syn::Error::new(
            Span::call_site(),
            "missing the HTTP method and endpoint: write #[track_request(\"GET\", \"/users\")]",
        )),
        (Some(method), None) => errors.push(syn::Error::new(
            method.span(),
            "missing the endpoint after the method: write #[track_request(\"GET\", \"/users\")]",
        )),
        (Some(method), Some(endpoint)) => {
            check_method(method, errors);
            check_endpoint(endpoint, errors);
        }
    }
    let buckets = args.buckets.map(|buckets| {
        if buckets.bounds.is_empty() {
            errors.push(syn::Error::new(buckets.span, "`buckets` needs at least one bound"));
        }
        if buckets.bounds.len() > MAX_BUCKETS {
            errors.push(syn::Error::new(
                buckets.span,
                format!("at most {MAX_BUCKETS} bucket bounds per site, found {}", buckets.bounds.len()),
            ));
        }
        for pair in buckets.bounds.windows(2) {
            if pair[1].value <= pair[0].value {
                errors.push(syn::Error::new(pair[1].span, "bucket bounds must be strictly increasing"));
            }
        }
        for bound in &buckets.bounds {
            if !bound.value.is_finite() {
                errors.push(syn::Error::new(bound.span, "bucket bounds must be finite (+Inf is always added)"));
            } else if bound.value < 1e-9 {
                // Durations are measured in whole nanoseconds.
                errors
                    .push(syn::Error::new(bound.span, "bucket bounds below a nanosecond (1e-9) cannot be told apart"));
            }
        }
        buckets.bounds.iter().map(|bound| bound.value).collect::<Vec<_>>()
    });
    if !(before && errors.is_empty()) {
        return None;
    }
    let (method, endpoint) = (args.method?, args.endpoint?);
    Some(Site {
        trace: args.trace.map(|name| match name {
            Some(name) => name.value(),
            // The semantic conventions' server span name: `{method} {route}`.
            None => format!("{} {}", method.value(), endpoint.value()),
        }),
        method,
        endpoint,
        buckets,
        track_concurrency: args.track_concurrency.unwrap_or(false),
        log_errors: args.log_errors.unwrap_or(false),
        krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::obs_runtime)),
    })
}

fn check_method(method: &syn::LitStr, errors: &mut Errors) {
    let value = method.value();
    if value.is_empty() {
        errors.push(syn::Error::new(method.span(), "the HTTP method is empty; expected e.g. \"GET\""));
    } else if value.bytes().any(|b| b.is_ascii_lowercase()) && value.bytes().all(|b| b.is_ascii_alphabetic()) {
        errors.push(syn::Error::new(
            method.span(),
            format!("HTTP methods are upper case: write \"{}\"", value.to_ascii_uppercase()),
        ));
    } else if !value.bytes().all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_') {
        errors.push(syn::Error::new(
            method.span(),
            format!("\"{}\" is not an HTTP method; expected e.g. \"GET\", \"POST\"", value.escape_debug()),
        ));
    }
}

fn check_endpoint(endpoint: &syn::LitStr, errors: &mut Errors) {
    let value = endpoint.value();
    if !value.starts_with('/') {
        errors.push(syn::Error::new(
            endpoint.span(),
            "the endpoint is a path template starting with `/`, e.g. \"/users/{id}\"",
        ));
    } else if let Some(bad) = value.chars().find(|c| c.is_whitespace() || c.is_control() || *c == '?' || *c == '#') {
        errors.push(syn::Error::new(
            endpoint.span(),
            format!("the endpoint is a path template without query, fragment or whitespace; found {:?}", bad),
        ));
    }
}
