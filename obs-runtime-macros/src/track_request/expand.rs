//! Code generation for `#[track_request]`. The input is known good: nothing here can fail.
//!
//! The signature stays as written; the body is wrapped, not rewritten. A sync body runs in place
//! (in an immediately called `move` closure when it may `return` or `?`, so that those keep their
//! meaning: see `run_in_place`), an async body in an `async move` block awaited in place (so the
//! time covers the whole future). A guard created
//! before the body records the outcome; if the body panics, or the future is dropped before it
//! completes, the guard's `Drop` records that instead.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::check::Site;
use crate::item::outer_and_inner;
use crate::types::{async_body, finish_call, future_output, infer_opaque, run_in_closure, run_in_place};

pub(crate) fn expand(site: &Site, function: syn::ItemFn) -> TokenStream {
    let syn::ItemFn { attrs, vis, modifiers, sig, block } = function;
    let (attrs, inner_attrs) = outer_and_inner(attrs);
    // `default fn` (specialization) keeps its modifier.
    let defaultness = modifiers.defaultness;
    let krate = &site.krate;
    let method = &site.method;
    let endpoint = &site.endpoint;
    // The site's options, each only when given: the runtime's defaults need no tokens.
    let buckets = site.buckets.as_ref().map(|bounds| {
        let bounds = bounds.iter().map(|bound| Literal::f64_suffixed(*bound));
        quote!(.with_buckets(&[#(#bounds),*]))
    });
    let concurrency = site.track_concurrency.then(|| quote!(.with_concurrency()));
    let error_log = site.log_errors.then(|| quote!(.with_error_log()));
    // Mixed-site hygiene: the user's body cannot see or shadow these names.
    let span = Span::mixed_site();
    let guard = quote_spanned!(span=> __obs_guard);
    let result = quote_spanned!(span=> __obs_result);
    let future = quote_spanned!(span=> __obs_future);
    // The declared type pins the result's type before the status is chosen from it (inference
    // alone may leave `E` of a `Result` open there), and gives `return` and `?` in the body the
    // same coercion target as in the unwrapped function (`Box<dyn Error>`, `&dyn Trait`).
    let annotation = match &sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => infer_opaque(ty),
    };
    let site_static = quote_spanned! {span=>
        static __OBS_SITE: #krate::__private::RequestSite =
            #krate::__private::RequestSite::new(#method, #endpoint) #buckets #concurrency #error_log;
    };
    // The combined form (`trace`): a server span around the call, in the same expansion. Only
    // with the runtime's `trace` feature (which turns on this crate's).
    let trace = site.trace.as_ref().filter(|_| cfg!(feature = "trace"));
    let trace_span = quote_spanned!(span=> __obs_span);
    let start_span = match trace {
        Some(name) => {
            quote_spanned!(span=> let #trace_span = __OBS_SITE.__obs_start_span(#name);)
        }
        None => TokenStream::new(),
    };
    // The sync body run in place, in the span; a future polled in it.
    let run_sync = || {
        let prelude = match trace {
            Some(_) => quote_spanned!(span=> let __obs_entered = #krate::__private::Span::enter(&#trace_span);),
            None => TokenStream::new(),
        };
        run_in_place(krate, &annotation, &block, prelude)
    };
    let awaited = |future: TokenStream| match trace {
        Some(_) => quote_spanned!(span=> #krate::__private::Span::scope_ref(&#trace_span, #future).await),
        None => quote_spanned!(span=> #future.await),
    };
    // With a span, the text is asked for once, for both the span and the log line; the metrics
    // are finished in the span (their exemplar and error line are the request's), then the span.
    let finish = finish_call(krate, &result, &sig.output, TokenStream::new(), |status, text| match trace {
        Some(_) => quote_spanned!(span=> __OBS_SITE.__obs_finish_traced(#guard, &#trace_span, #status, #text)),
        None => quote_spanned!(span=> __OBS_SITE.__obs_finish(#guard, #status, #text)),
    });
    // Records one call: the guard starts the clock; the value of `run` is the call's result.
    let record = |run: TokenStream, output: &TokenStream| {
        quote_spanned! {span=>
            #start_span
            let #guard = __OBS_SITE.__obs_start();
            let #result: #output = #run;
            #finish
            #result
        }
    };
    let body = if sig.asyncness.is_some() {
        // `async move` awaited in place: the time covers the whole future, and a future dropped
        // before it completes drops the guard, which records that.
        let run = awaited(async_body(&annotation, &block));
        let record = record(run, &annotation);
        quote_spanned!(span=> #site_static #record)
    } else if let Some((output, boxed)) = future_output(&sig.output) {
        // A plain fn that returns a future (`-> impl Future`, or the boxed future of
        // `#[async_trait]`): the body only builds the future, so the request is the future's run.
        // Wrap it, timing from its first poll to its completion as for an `async fn`. (A future
        // type not recognised here is refused by the status probe at compile time.)
        let output = infer_opaque(&output);
        let record = record(awaited(future.clone()), &output);
        let wrapped = quote_spanned!(span=> async move { #record });
        let wrapped = if boxed { quote_spanned!(span=> ::std::boxed::Box::pin(#wrapped)) } else { wrapped };
        let build = run_in_closure(krate, &annotation, &block, TokenStream::new());
        quote_spanned! {span=>
            #site_static
            let #future = #build;
            #wrapped
        }
    } else {
        let record = record(run_sync(), &annotation);
        quote_spanned!(span=> #site_static #record)
    };
    crate::contract::function(quote_spanned!(span=> #(#attrs)* #vis #defaultness #sig), &inner_attrs, krate, body)
}
