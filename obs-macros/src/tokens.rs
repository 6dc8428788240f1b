//! Token helpers shared by the macros' argument parsers.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::ParseStream;

/// Splits the arguments at top-level commas; a trailing comma gives no empty argument.
pub(crate) fn split_on_commas(tokens: TokenStream) -> Vec<TokenStream> {
    let mut segments = Vec::new();
    let mut current = TokenStream::new();
    for tree in tokens {
        match &tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                segments.push(std::mem::take(&mut current));
            }
            _ => current.extend([tree]),
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// A flag option: bare (`true`), or `= true` / `= false`.
pub(crate) fn parse_flag(input: ParseStream, name: &str) -> syn::Result<bool> {
    if !input.peek(syn::Token![=]) {
        return Ok(true);
    }
    input.parse::<syn::Token![=]>()?;
    match input.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(flag), .. }) => Ok(flag.value),
        other => Err(syn::Error::new_spanned(other, format!("expected `true` or `false`, or the bare flag `{name}`"))),
    }
}

/// `crate = path`, after the `crate` key.
pub(crate) fn parse_crate_path(input: ParseStream, key: &syn::Ident) -> syn::Result<syn::Path> {
    input
        .parse::<syn::Token![=]>()
        .map_err(|_| syn::Error::new(key.span(), "expected `crate = path`, e.g. crate = my_reexport::obs"))?;
    input
        .call(syn::Path::parse_mod_style)
        .map_err(|error| syn::Error::new(error.span(), "expected a path for `crate`, e.g. crate = my_reexport::obs"))
}
