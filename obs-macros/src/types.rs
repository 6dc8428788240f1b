//! Types and statements shared by the expansions.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};

/// `if false { return <a value of the declared type>; }`, first in an async block: the block's
/// first `return` fixes its output type, so every later `return` and `?` coerces to the declared
/// type as it would in the function. Nothing when that type is entirely inferred.
pub(crate) fn fake_return(annotation: &TokenStream) -> TokenStream {
    if annotation.to_string() == "_" {
        return TokenStream::new();
    }
    quote_spanned! {Span::mixed_site()=>
        #[allow(
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __obs_fake_return: #annotation = loop {};
            return __obs_fake_return;
        }
    }
}

/// `ty` with `impl Trait` and `!` replaced by `_`: neither may be written in a `let`, and the
/// body's value fills them in.
pub(crate) fn infer_opaque(ty: &syn::Type) -> TokenStream {
    let mut ty = ty.clone();
    replace_opaque(&mut ty);
    quote!(#ty)
}

fn replace_opaque(ty: &mut syn::Type) {
    match ty {
        syn::Type::ImplTrait(_) | syn::Type::Never(_) => {
            *ty = syn::parse_quote!(_);
        }
        syn::Type::Reference(reference) => replace_opaque(&mut reference.elem),
        syn::Type::Ptr(pointer) => replace_opaque(&mut pointer.elem),
        syn::Type::Slice(slice) => replace_opaque(&mut slice.elem),
        syn::Type::Array(array) => replace_opaque(&mut array.elem),
        syn::Type::Paren(paren) => replace_opaque(&mut paren.elem),
        syn::Type::Group(group) => replace_opaque(&mut group.elem),
        syn::Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(replace_opaque),
        syn::Type::Path(path) => {
            if let Some(qself) = &mut path.qself {
                replace_opaque(&mut qself.ty);
            }
            for segment in &mut path.path.segments {
                if let syn::PathArguments::AngleBracketed(args) = &mut segment.arguments {
                    for arg in &mut args.args {
                        if let syn::GenericArgument::Type(ty) = arg {
                            replace_opaque(ty);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}
