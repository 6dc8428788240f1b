//! What the macros' argument parsers share: the comma-separated option list with recovery, and
//! the option shapes (`flag`, `flag = bool`, `crate = path`, `key = "string"`).

use syn::parse::{Parse, ParseStream};

use crate::errors::Errors;

/// Parses `one` for each comma-separated argument of `input`. An argument that fails records its
/// error, and parsing resumes after the next top-level comma, so one bad argument does not hide
/// the errors of the others. `one` is given the argument's index.
pub(crate) fn each_argument(
    input: ParseStream,
    errors: &mut Errors,
    mut one: impl FnMut(ParseStream, usize) -> syn::Result<()>,
) {
    let mut index = 0;
    while !input.is_empty() {
        if let Err(error) = one(input, index).and_then(|()| end_of_argument(input)) {
            errors.push(error);
            skip_argument(input);
        }
        index += 1;
        if input.parse::<Option<syn::Token![,]>>().is_err() {
            // Unreachable: `skip_argument` stops at a comma or at the end.
            break;
        }
    }
}

/// An argument ends at a comma or at the end of the list.
fn end_of_argument(input: ParseStream) -> syn::Result<()> {
    if input.is_empty() || input.peek(syn::Token![,]) {
        Ok(())
    } else {
        Err(input.error("unexpected token: expected `,` before the next argument"))
    }
}

/// Skips the rest of a bad argument: every token tree up to the next top-level comma.
fn skip_argument(input: ParseStream) {
    while !input.is_empty() && !input.peek(syn::Token![,]) {
        if input.parse::<proc_macro2::TokenTree>().is_err() {
            break;
        }
    }
}

/// The error of an option given twice, on its second key.
pub(crate) fn duplicate(span: proc_macro2::Span, name: &str) -> syn::Error {
    syn::Error::new(span, format!("duplicate option `{name}`"))
}

/// An error on the key at `key` if its option (`slot`) was already given.
pub(crate) fn once<T>(slot: &Option<T>, key: proc_macro2::Span, name: &str) -> syn::Result<()> {
    match slot {
        Some(_) => Err(duplicate(key, name)),
        None => Ok(()),
    }
}

/// The error for a token where an option's key should be: an unknown key names the valid ones.
pub(crate) fn not_an_option(input: ParseStream, options: &str) -> syn::Error {
    match input.call(<syn::Ident as syn::ext::IdentExt>::parse_any) {
        Ok(key) => syn::Error::new(key.span(), format!("unknown option `{key}`; expected one of {options}")),
        Err(error) => syn::Error::new(error.span(), format!("expected an option: one of {options}")),
    }
}

/// A flag option, its key `K` included: bare (`true`), or `= true` / `= false`.
pub(crate) fn flag<K: Parse>(input: ParseStream, name: &str) -> syn::Result<bool> {
    input.parse::<K>()?;
    if !input.peek(syn::Token![=]) {
        return Ok(true);
    }
    input.parse::<syn::Token![=]>()?;
    match input.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Bool(flag), .. }) => Ok(flag.value),
        other => Err(syn::Error::new_spanned(other, format!("expected `true` or `false`, or the bare flag `{name}`"))),
    }
}

/// `crate = path`, its key included.
pub(crate) fn crate_path(input: ParseStream) -> syn::Result<syn::Path> {
    let key: syn::Token![crate] = input.parse()?;
    input
        .parse::<syn::Token![=]>()
        .map_err(|_| syn::Error::new(key.span, "expected `crate = path`, e.g. crate = my_reexport::obs"))?;
    input
        .call(syn::Path::parse_mod_style)
        .map_err(|error| syn::Error::new(error.span(), "expected a path for `crate`, e.g. crate = my_reexport::obs"))
}

/// `= "..."` after a key at `key`: the string, or an error naming `expected` (e.g. `name =
/// "database"`) on the key when `=` is missing, else `not_a_string` on the value.
pub(crate) fn string_value(
    input: ParseStream,
    key: proc_macro2::Span,
    expected: &str,
    not_a_string: &str,
) -> syn::Result<syn::LitStr> {
    input.parse::<syn::Token![=]>().map_err(|_| syn::Error::new(key, format!("expected `{expected}`")))?;
    match input.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) => Ok(value),
        other => Err(syn::Error::new_spanned(other, not_a_string)),
    }
}
