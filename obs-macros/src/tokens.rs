//! Token helpers shared by the macros' argument parsers.

use proc_macro2::{TokenStream, TokenTree};

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
