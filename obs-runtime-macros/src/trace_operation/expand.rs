//! Code generation for `#[trace_operation]`. The input is known good: nothing here can fail.
//!
//! As for `#[track_request]`, the signature stays as written and the body is wrapped: a span is
//! started before it (its fields set only when it records), entered while a sync body runs or at
//! each poll of an async one, and ended with the call's outcome; a panic or a dropped future ends
//! it through the span's `Drop`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

use super::args::SpanKind;
use super::check::{Site, Value};
use crate::item::outer_and_inner;
use crate::types::{async_body, finish_call, future_output, infer_opaque, run_in_closure, run_in_place};

pub(crate) fn expand(site: &Site, function: syn::ItemFn) -> TokenStream {
    let syn::ItemFn { attrs, vis, modifiers, sig, block } = function;
    let (attrs, inner_attrs) = outer_and_inner(attrs);
    let defaultness = modifiers.defaultness;
    let krate = &site.krate;
    let span = Span::mixed_site();
    let trace = quote_spanned!(span=> __obs_span);
    let result = quote_spanned!(span=> __obs_result);
    let future = quote_spanned!(span=> __obs_future);
    let name = match &site.name {
        Some(name) => quote!(#name),
        None => {
            let ident = sig.ident.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #ident))
        }
    };
    let kind = match site.kind {
        SpanKind::Server => quote!(Server),
        SpanKind::Client => quote!(Client),
        SpanKind::Internal => quote!(Internal),
        SpanKind::Producer => quote!(Producer),
        SpanKind::Consumer => quote!(Consumer),
    };
    let err = site.err;
    let annotation = match &sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => infer_opaque(ty),
    };
    let attributes = site.attributes.iter().map(|(key, key_span, value)| {
        let value = match value {
            Value::Expr(expr) => quote_spanned!(*key_span=> #expr),
            Value::Argument(ident) => quote!(#ident),
        };
        let value = quote_spanned!(*key_span=> #krate::__private::attribute_value!(#value));
        if site.unredacted.contains(key) {
            quote_spanned!(span=> #krate::__private::Span::set_attribute(&#trace, #key, #value);)
        } else {
            // Decided at compile time: a secret's value is never evaluated.
            quote_spanned! {span=>
                if const { #krate::__private::is_secret_name(#key) } {
                    #krate::__private::Span::set_attribute(&#trace, #key, #krate::__private::REDACTED);
                } else {
                    #krate::__private::Span::set_attribute(&#trace, #key, #value);
                }
            }
        }
    });
    let start = quote_spanned! {span=>
        let #trace = #krate::__private::start_operation(#name, #krate::__private::SpanKind::#kind);
        if #krate::__private::Span::is_recording(&#trace) {
            #(#attributes)*
        }
    };
    let record_ret = if site.ret {
        quote_spanned! {span=>
            if #krate::__private::Span::is_recording(&#trace) {
                #krate::__private::Span::set_attribute(&#trace, "return", #krate::__private::attribute_value!(#result));
            }
        }
    } else {
        TokenStream::new()
    };
    // The `return` attribute, then the span's end with the call's outcome.
    let finish = finish_call(
        krate,
        &result,
        &sig.output,
        record_ret,
        |status, text| quote_spanned!(span=> #krate::__private::finish_operation(#trace, #name, #status, #text, #err)),
    );
    let finish = quote_spanned!(span=> #finish #result);
    let entered = quote_spanned!(span=> let __obs_entered = #krate::__private::Span::enter(&#trace););
    let body = if sig.asyncness.is_some() {
        let run = async_body(&annotation, &block);
        quote_spanned! {span=>
            #start
            let #result: #annotation = #krate::__private::Span::scope_ref(&#trace, #run).await;
            #finish
        }
    } else if let Some((output, boxed)) = future_output(&sig.output) {
        // A plain fn returning a future: the span covers building it and every poll of it.
        let output = infer_opaque(&output);
        let wrapped = quote_spanned! {span=>
            async move {
                let #result: #output = #krate::__private::Span::scope_ref(&#trace, #future).await;
                #finish
            }
        };
        let wrapped = if boxed { quote_spanned!(span=> ::std::boxed::Box::pin(#wrapped)) } else { wrapped };
        let build = run_in_closure(krate, &annotation, &block, entered);
        quote_spanned! {span=>
            #start
            let #future = #build;
            #wrapped
        }
    } else {
        let run = run_in_place(krate, &annotation, &block, entered);
        quote_spanned! {span=>
            #start
            let #result: #annotation = #run;
            #finish
        }
    };
    crate::contract::function(quote_spanned!(span=> #(#attrs)* #vis #defaultness #sig), &inner_attrs, krate, body)
}
