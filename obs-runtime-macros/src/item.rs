//! The annotated item: parsed as a function, and checked to be one the macros can wrap.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::spanned::Spanned;

use crate::errors::Errors;

/// Parses `item` as a function with a body, or says on which token it is not one.
///
/// `None` without an error is a function that does not parse (a syntax error in its body or
/// signature): the macro then returns the item exactly as written, and rustc reports the user's
/// own syntax error where it is, instead of a misleading "not a function".
pub(crate) fn parse_fn(item: TokenStream, macro_name: &str, errors: &mut Errors) -> Option<syn::ItemFn> {
    let parsed: syn::Item = match syn::parse2(item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => {
            if !looks_like_fn_with_a_body(item) {
                // No function at all: say where the item stops parsing.
                errors.push(syn::Error::new(
                    error.span(),
                    format!(
                        "#[{macro_name}] goes on a function with a body, and this does not parse as an item: {error}"
                    ),
                ));
            }
            return None;
        }
    };
    let function = match parsed {
        syn::Item::Fn(function) => function,
        syn::Item::Verbatim(tokens)
            if tokens.clone().into_iter().any(|t| matches!(&t, TokenTree::Ident(ident) if ident == "fn")) =>
        {
            // A function declaration without a body, as in a trait.
            errors.push(syn::Error::new(
                tokens.into_iter().next().map_or_else(proc_macro2::Span::call_site, |t| t.span()),
                format!("#[{macro_name}] goes on a function with a body; on a trait, put it on the impl's methods"),
            ));
            return None;
        }
        other => {
            errors.push(syn::Error::new(
                item_keyword_span(&other),
                format!("#[{macro_name}] goes on a function, not on {}", item_kind(&other)),
            ));
            return None;
        }
    };
    if let Some(constness) = &function.sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            format!("#[{macro_name}] cannot go on a `const fn`: recording a call is not possible in a const context"),
        ));
    }
    if let Some(variadic) = &function.sig.variadic {
        errors.push(syn::Error::new(
            variadic.dots.spans[0].join(variadic.dots.spans[2]).unwrap_or(variadic.dots.spans[0]),
            format!("#[{macro_name}] cannot go on a variadic function"),
        ));
    }
    if let Some(track_caller) = function.attrs.iter().find(|attr| attr.path().is_ident("track_caller")) {
        // The body may run in a closure or an async block, where `Location::caller()` would silently
        // name the macro's code instead of the caller.
        errors.push(syn::Error::new(
            track_caller.path().span(),
            format!("#[{macro_name}] cannot go on a `#[track_caller]` function: the caller's location would be lost"),
        ));
    }
    if let syn::ReturnType::Type(_, ty) = &function.sig.output
        && let syn::Type::Never(never) = &**ty
    {
        errors.push(syn::Error::new(
            never.bang_token.span,
            format!("#[{macro_name}] cannot go on a function that returns `!`: it never completes, so there is nothing to record"),
        ));
    }
    Some(function)
}

/// Whether `item` reads as a function with a body (a `fn` keyword at its top level, braces
/// last) even though it does not parse: then its syntax error, in the signature or the body, is
/// rustc's to report, at its place and in its words.
fn looks_like_fn_with_a_body(item: TokenStream) -> bool {
    let trees: Vec<TokenTree> = item.into_iter().collect();
    let has_fn = trees.iter().any(|tree| matches!(tree, TokenTree::Ident(ident) if ident == "fn"));
    let ends_in_body = matches!(trees.last(), Some(TokenTree::Group(body)) if body.delimiter() == Delimiter::Brace);
    has_fn && ends_in_body
}

/// The function's outer attributes (`#[..]`, before it) and its inner ones (`#![..]`, first in its
/// body): an expansion puts the inner ones first in the body it generates, the only place they are
/// allowed and where they still apply to the whole function.
pub(crate) fn outer_and_inner(attrs: Vec<syn::Attribute>) -> (Vec<syn::Attribute>, Vec<syn::Attribute>) {
    attrs.into_iter().partition(|attr| matches!(attr.style, syn::AttrStyle::Outer))
}

fn item_keyword_span(item: &syn::Item) -> proc_macro2::Span {
    match item {
        syn::Item::Struct(item) => item.struct_token.span,
        syn::Item::Enum(item) => item.enum_token.span,
        syn::Item::Union(item) => item.union_token.span,
        syn::Item::Impl(item) => item.impl_token.span,
        syn::Item::Trait(item) => item.trait_token.span,
        syn::Item::Mod(item) => item.mod_token.span,
        syn::Item::Const(item) => item.const_token.span,
        syn::Item::Static(item) => item.static_token.span,
        syn::Item::Type(item) => item.type_token.span,
        syn::Item::Use(item) => item.use_token.span,
        other => other.span(),
    }
}

fn item_kind(item: &syn::Item) -> &'static str {
    match item {
        syn::Item::Struct(_) => "a struct",
        syn::Item::Enum(_) => "an enum",
        syn::Item::Union(_) => "a union",
        syn::Item::Impl(_) => "an impl block (put it on the methods inside)",
        syn::Item::Trait(_) => "a trait (put it on the methods of an impl)",
        syn::Item::Mod(_) => "a module",
        syn::Item::Const(_) => "a const",
        syn::Item::Static(_) => "a static",
        syn::Item::Type(_) => "a type alias",
        syn::Item::Use(_) => "a use declaration",
        _ => "this item",
    }
}
