//! Code generation for `#[health_check]`. The input is known good: nothing here can fail.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};

use super::Argument;
use super::args::CheckArgs;
use crate::item::outer_and_inner;
use crate::types::{async_body, infer_opaque};

pub(crate) fn expand(args: &CheckArgs, function: syn::ItemFn, arguments: &[Argument]) -> TokenStream {
    let syn::ItemFn { attrs, vis, sig, block, .. } = function;
    let (attrs, inner_attrs) = outer_and_inner(attrs);
    let krate = args.krate.clone().unwrap_or_else(|| syn::parse_quote!(::obs_runtime));
    let name = match &args.name {
        Some(name) => quote!(#name),
        None => {
            let ident = sig.ident.to_string();
            let ident = ident.strip_prefix("r#").unwrap_or(&ident);
            quote!(#ident)
        }
    };
    // No timeout given: none is emitted, and the runtime's default applies.
    let timeout = match args.timeout {
        Some(timeout) => {
            // At most a day (checked), so it fits.
            let nanos = Literal::u64_suffixed(timeout.as_nanos() as u64);
            quote!(::core::option::Option::Some(#nanos))
        }
        None => quote!(::core::option::Option::None),
    };
    let critical = args.critical.unwrap_or(true);
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    let params = arguments.iter().map(|Argument { ident, ty, .. }| quote!(#ident: #ty));
    let clones = arguments.iter().map(|Argument { ident, mutability, .. }| {
        quote_spanned!(Span::mixed_site()=> let #mutability #ident = ::core::clone::Clone::clone(&#ident);)
    });
    let annotation = match &sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => infer_opaque(ty),
    };
    let run = async_body(&annotation, &block);
    let contract = crate::contract::check(&krate);
    quote! {
        #(#attrs)*
        #vis fn #ident #generics (#(#params),*) -> #krate::__private::HealthCheck #where_clause {
            #(#inner_attrs)*
            #contract
            #krate::__private::health_check(#name, #timeout, #critical, move || {
                #(#clones)*
                #run
            })
        }
    }
}
