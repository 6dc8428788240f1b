//! Types and statements shared by the expansions.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};

/// `async move { <fake return> <the body's statements> }`, in the body's own braces. Nesting the
/// body in braces of ours instead (`async move { .. { 1 } }`) would make rustc's `unused_braces`
/// fire on the user's braces when the body is one short expression.
pub(crate) fn async_body(annotation: &TokenStream, block: &syn::Block) -> TokenStream {
    let fake_return = fake_return(annotation);
    let stmts = &block.stmts;
    let mut body = Group::new(Delimiter::Brace, quote!(#fake_return #(#stmts)*));
    body.set_span(block.brace_token.span.join());
    let mut tokens = quote_spanned!(Span::mixed_site()=> async move);
    body.to_tokens(&mut tokens);
    tokens
}

/// `if false { return <a value of the declared type>; }`, first in an async block: the block's
/// first `return` fixes its output type, so every later `return` and `?` coerces to the declared
/// type as it would in the function. Nothing when that type is entirely inferred.
fn fake_return(annotation: &TokenStream) -> TokenStream {
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

/// The output type of a returned future, and whether the wrapped future must be boxed:
/// `impl Future<Output = T> + ..` (boxed when `Unpin` is promised), `Pin<Box<dyn Future<Output =
/// T> + ..>>`, or the `futures` aliases `BoxFuture<'a, T>` / `LocalBoxFuture<'a, T>`.
pub(crate) fn future_output(output: &syn::ReturnType) -> Option<(syn::Type, bool)> {
    let syn::ReturnType::Type(_, ty) = output else { return None };
    match &**ty {
        syn::Type::ImplTrait(opaque) => {
            let unpin = opaque.bounds.iter().any(|bound| {
                matches!(bound, syn::TypeParamBound::Trait(bound)
                    if bound.path.segments.last().is_some_and(|segment| segment.ident == "Unpin"))
            });
            output_of_bounds(opaque.bounds.iter()).map(|ty| (ty, unpin))
        }
        syn::Type::Path(path) if path.qself.is_none() => {
            let last = path.path.segments.last()?;
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                return single_type_argument(last, &last.ident.to_string()).map(|ty| (ty.clone(), true));
            }
            let pinned = single_type_argument(last, "Pin")?;
            let syn::Type::Path(boxed) = pinned else { return None };
            let dynamic = single_type_argument(boxed.path.segments.last()?, "Box")?;
            let syn::Type::TraitObject(object) = dynamic else { return None };
            output_of_bounds(object.bounds.iter()).map(|ty| (ty, true))
        }
        _ => None,
    }
}

fn single_type_argument<'a>(segment: &'a syn::PathSegment, name: &str) -> Option<&'a syn::Type> {
    if segment.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
    let mut types = args.args.iter().filter_map(|arg| match arg {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    let ty = types.next()?;
    types.next().is_none().then_some(ty)
}

fn output_of_bounds<'a>(mut bounds: impl Iterator<Item = &'a syn::TypeParamBound>) -> Option<syn::Type> {
    bounds.find_map(|bound| {
        let syn::TypeParamBound::Trait(bound) = bound else { return None };
        let segment = bound.path.segments.last()?;
        if segment.ident != "Future" {
            return None;
        }
        let syn::PathArguments::AngleBracketed(args) = &segment.arguments else { return None };
        args.args.iter().find_map(|arg| match arg {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}
