//! Types and statements shared by the expansions.

use proc_macro2::{Delimiter, Group, Spacing, Span, TokenStream, TokenTree};
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

/// A sync body run in place, as an expression of the declared type (`prelude`, such as entering
/// a span, runs first).
///
/// When nothing in the body can leave the function early, the body's own statements are spliced
/// into a block of ours: the function compiles as written, with no closure to type-check, borrow
/// check and generate code for (with the status probe, most of what an annotated fn cost to
/// compile). Otherwise (a `return`, a `?`, a macro that might hide one) it is an immediately
/// called `move` closure, so that every way out passes through
/// what follows: `return` and `?` leave the closure, not the function. `call_once` makes the
/// closure an `FnOnce`, which may hand out borrows of what it captured (`&mut self.field`). In
/// place, the function's arguments the body does not consume drop after the call is recorded
/// (in the closure, before).
///
/// What follows a block that diverges (`loop {}`, a call of a `-> !` fn) is unreachable: the
/// statement after this one must allow `unreachable_code`, or the user's crate warns.
pub(crate) fn run_in_place(
    krate: &syn::Path,
    annotation: &TokenStream,
    block: &syn::Block,
    prelude: TokenStream,
) -> TokenStream {
    let span = Span::mixed_site();
    if leaves_early(block.to_token_stream()) {
        return run_in_closure(krate, annotation, block, prelude);
    }
    let stmts = &block.stmts;
    quote_spanned!(span=> { #prelude #(#stmts)* })
}

/// The body as an immediately called `move` closure returning the declared type (see
/// [`run_in_place`]); always for a fn that returns a future, whose body's value must coerce to the
/// declared type (two arms boxing different futures as `Pin<Box<dyn Future>>`) and after which
/// comes an expression, where `unreachable_code` cannot be allowed.
pub(crate) fn run_in_closure(
    krate: &syn::Path,
    annotation: &TokenStream,
    block: &syn::Block,
    prelude: TokenStream,
) -> TokenStream {
    let span = Span::mixed_site();
    let call = quote_spanned!(span=> #krate::__private::call_once(move || -> #annotation #block));
    if prelude.is_empty() { call } else { quote_spanned!(span=> { #prelude #call }) }
}

/// Whether `tokens` may leave the function they are the body of before their end: a `return`, a
/// `?`, or a macro call other than those known to do neither (a user's macro, `bail!`, `try!`,
/// `panic!`). Conservative: a `return` or `?` in a nested closure or item counts too; it only
/// costs the closure.
fn leaves_early(tokens: TokenStream) -> bool {
    let mut previous: Option<TokenTree> = None;
    // The first segment of the path being read (`tracing` in `tracing::error`), if any.
    let mut path_crate: Option<String> = None;
    let mut path_start: Option<String> = None;
    let mut tokens = tokens.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match &token {
            TokenTree::Punct(punct) if punct.as_char() == ':' => {
                if path_crate.is_none() {
                    path_crate = path_start.take();
                }
            }
            TokenTree::Ident(ident) => {
                let after_colons = matches!(&previous, Some(TokenTree::Punct(punct)) if punct.as_char() == ':');
                if !after_colons {
                    path_crate = None;
                    path_start = Some(ident.to_string());
                }
            }
            TokenTree::Punct(punct) if punct.as_char() == '!' => {}
            _ => {
                path_crate = None;
                path_start = None;
            }
        }
        match &token {
            TokenTree::Ident(ident) if ident == "return" => return true,
            TokenTree::Punct(punct) if punct.as_char() == '?' => return true,
            // `name!(..)`: an ident, a lone `!` (`!=` is joined), a group.
            TokenTree::Punct(punct) if punct.as_char() == '!' && punct.spacing() == Spacing::Alone => {
                if let (Some(TokenTree::Ident(name)), Some(TokenTree::Group(_))) = (&previous, tokens.peek())
                    && !NEGATING_KEYWORDS.iter().any(|keyword| name == keyword)
                    && !IN_PLACE_MACROS.iter().any(|known| name == known)
                    && !(name != "try"
                        && name != "r#try"
                        && path_crate.as_ref().is_some_and(|krate| IN_PLACE_CRATES.iter().any(|known| krate == known)))
                {
                    return true;
                }
            }
            TokenTree::Group(group) if leaves_early(group.stream()) => return true,
            _ => {}
        }
        previous = Some(token);
    }
    false
}

/// Keywords that may stand before a `!` that negates (`if !(..)`): not macro names.
const NEGATING_KEYWORDS: &[&str] = &["if", "while", "match", "in", "break", "mut", "else"];

/// Macros that neither return from the function, nor use `?`, nor always diverge, by a name
/// unlikely to be a local macro's: the standard library's formatting, assertion and compile-time
/// macros, `tracing`'s and `log`'s `trace!` to `warn!`, and obs's `span_attributes!`. (`error!`
/// and `event!`, plausible names for a local macro that returns an `Err`, are trusted only by
/// path: `tracing::error!`.)
#[rustfmt::skip]
const IN_PLACE_MACROS: &[&str] = &[
    "format", "format_args", "print", "println", "eprint", "eprintln", "write", "writeln", "vec",
    "assert", "assert_eq", "assert_ne", "debug_assert", "debug_assert_eq", "debug_assert_ne",
    "matches", "dbg", "concat", "stringify", "line", "column", "file", "module_path", "cfg", "env",
    "option_env", "include_str", "include_bytes", "trace", "debug", "info", "warn", "span_attributes",
];

/// Crates whose macros, called by path (`tracing::error!`, `std::println!`), never return from
/// the caller nor use `?` (but the old `try!`, refused by name).
const IN_PLACE_CRATES: &[&str] = &["std", "core", "alloc", "tracing", "log", "obs_runtime"];

/// The statement that ends a call: `#[allow(unreachable_code)] let () = { <probes> <before>
/// <finish> };`, where `finish` is given the tokens of the call's status and of its error text.
/// With a declared output, the probes are of `result`: its status by the first of
/// `RequestOutcome`'s rules that applies (a `let` of `u16`), and the text of an `Err` (its
/// `Display`, else its `Debug`), both autoref specialization (see
/// `obs_runtime::__private::rules`), their traits brought into scope by one `use` in this block
/// (one import per function, not one per probe: each costs the compiler). The import names
/// `Probe`: nothing of the user's body may be in `before` or `finish` (the runtime's path, which
/// `crate = ..` may give, and literals are). Without a declared output (`()`), 200 and no text.
///
/// It allows `unreachable_code`: it is the first statement after the body, which may diverge
/// (`loop {}`).
pub(crate) fn finish_call(
    krate: &syn::Path,
    result: &TokenStream,
    output: &syn::ReturnType,
    before: TokenStream,
    finish: impl FnOnce(TokenStream, TokenStream) -> TokenStream,
) -> TokenStream {
    let span = Span::mixed_site();
    let (probes, status, text) = match output {
        syn::ReturnType::Default => (TokenStream::new(), quote!(200), quote!(#krate::__private::ErrorText::Nothing)),
        // The status is a `u16` by its `let`: the refusal of a future is a type error there, on
        // the attribute, naming itself (not on a parameter of the runtime's).
        syn::ReturnType::Type(..) => {
            let status = quote_spanned!(span=> __obs_status);
            let probes = quote_spanned! {span=>
                use #krate::__private::rules::{Probe, Status as _, Text as _};
                let #status: ::core::primitive::u16 = (&&&Probe(&#result)).__obs_status();
            };
            (probes, status, quote_spanned!(span=> Probe(&#result).__obs_error_text()))
        }
    };
    let finish = finish(status, text);
    quote_spanned! {span=>
        #[allow(unreachable_code)]
        let () = { #probes #before #finish };
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::leaves_early;

    #[test]
    fn a_body_that_only_ends_stays_in_place() {
        for body in [
            quote!({ if x == 1 { Err(()) } else { Ok(x + 1) } }),
            quote!({
                let y = !x;
                y != 0 && !(y > 3)
            }),
            quote!({
                if !ready {
                    loop {}
                }
                while !done {}
                match !flag {
                    _ => 1,
                }
            }),
            quote!({
                assert!(x < 10, "small");
                tracing::info!(x, "seen");
                format!("{x}")
            }),
            quote!({
                let v = vec![1, 2];
                std::println!("{v:?}");
                write!(out, "{}", v.len())
            }),
            quote!({
                obs_runtime::span_attributes!(span, user_id = id);
                id
            }),
        ] {
            assert!(!leaves_early(body.clone()), "{body}");
        }
    }

    #[test]
    fn a_body_that_may_leave_early_is_seen() {
        for body in [
            quote!({
                if x == 0 {
                    return 1;
                }
                2
            }),
            quote!({
                let y = parse(x)?;
                Ok(y)
            }),
            quote!({
                let y = { inner(x)? };
                Ok(y)
            }),
            quote!({
                anyhow::bail!("no");
            }),
            quote!({
                ensure!(x > 0, "positive");
                Ok(x)
            }),
            quote!({
                my_macro! { x }
            }),
            quote!({ panic!("always") }),
            quote!({ todo!() }),
            // `error!` and `event!` by their bare name may be a local macro that returns.
            quote!({ error!(ApiError::NotFound) }),
            quote!({ my::error!(x) }),
            quote!({ std::r#try!(x) }),
            // Conservative: a `return` of a nested closure costs only the closure.
            quote!({
                let f = |x| {
                    return x;
                };
                f(1)
            }),
        ] {
            assert!(leaves_early(body.clone()), "{body}");
        }
    }
}
