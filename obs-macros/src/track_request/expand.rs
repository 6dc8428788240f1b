//! Code generation for `#[track_request]`. The input is known good: nothing here can fail.
//!
//! The signature stays as written; the body is wrapped, not rewritten. A sync body runs in an
//! immediately called `move` closure (so `?` and `return` keep their meaning), an async body in an
//! `async move` block awaited in place (so the time covers the whole future). A guard created
//! before the body records the outcome; if the body panics, or the future is dropped before it
//! completes, the guard's `Drop` records that instead.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::check::Site;

pub(crate) fn expand(site: &Site, function: syn::ItemFn) -> TokenStream {
    let syn::ItemFn { attrs, vis, modifiers, sig, block } = function;
    // `default fn` (specialization) keeps its modifier.
    let defaultness = modifiers.defaultness;
    let krate = &site.krate;
    let method = &site.method;
    let endpoint = &site.endpoint;
    let buckets = match &site.buckets {
        Some(bounds) => {
            let bounds = bounds.iter().map(|bound| Literal::f64_suffixed(*bound));
            quote!(::core::option::Option::Some(&[#(#bounds),*]))
        }
        None => quote!(::core::option::Option::None),
    };
    let track_concurrency = site.track_concurrency;
    // Mixed-site hygiene: the user's body cannot see or shadow these names.
    let span = Span::mixed_site();
    let guard = quote_spanned!(span=> __obs_guard);
    let result = quote_spanned!(span=> __obs_result);
    // The declared type pins the result's type before the status is chosen from it (inference
    // alone may leave `E` of a `Result` open there).
    let annotation = match &sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => {
            let mut ty = (**ty).clone();
            infer_opaque(&mut ty);
            quote!(#ty)
        }
    };
    let run_body = if sig.asyncness.is_some() {
        quote_spanned!(span=> let #result: #annotation = async move #block.await;)
    } else {
        quote_spanned!(span=>
            #[allow(clippy::redundant_closure_call)]
            let #result: #annotation = (move || #block)();
        )
    };
    quote_spanned! {span=>
        #(#attrs)*
        #vis #defaultness #sig {
            static __OBS_SITE: #krate::__private::RequestSite = #krate::__private::RequestSite::new(
                #method, #endpoint, #buckets, #track_concurrency,
            );
            let #guard = #krate::__private::RequestGuard::start(&__OBS_SITE);
            #run_body
            #guard.finish(#krate::__private::status_of!(#result));
            #result
        }
    }
}

/// Replaces `impl Trait` and `!` with `_`: neither may be written in a `let`, and the body's value
/// fills them in.
fn infer_opaque(ty: &mut syn::Type) {
    match ty {
        syn::Type::ImplTrait(_) | syn::Type::Never(_) => {
            *ty = syn::parse_quote!(_);
        }
        syn::Type::Reference(reference) => infer_opaque(&mut reference.elem),
        syn::Type::Ptr(pointer) => infer_opaque(&mut pointer.elem),
        syn::Type::Slice(slice) => infer_opaque(&mut slice.elem),
        syn::Type::Array(array) => infer_opaque(&mut array.elem),
        syn::Type::Paren(paren) => infer_opaque(&mut paren.elem),
        syn::Type::Group(group) => infer_opaque(&mut group.elem),
        syn::Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(infer_opaque),
        syn::Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                infer_opaque(&mut qself.ty);
            }
            for segment in &mut path.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        if let syn::GenericArgument::Type(ty) = arg {
                            infer_opaque(ty);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
