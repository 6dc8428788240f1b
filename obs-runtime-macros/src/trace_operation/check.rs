//! Every check of `#[trace_operation]`'s arguments against the function, before any code is
//! generated.

use proc_macro2::Span;

use super::args::{Recorded, SpanKind, TraceArgs};
use crate::errors::Errors;

/// What a span records, known good.
pub(crate) struct Site {
    /// `None`: the function's path.
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) kind: SpanKind,
    /// `(key, span, value)`: the fields, then the recorded arguments.
    pub(crate) attributes: Vec<(String, Span, Value)>,
    pub(crate) unredacted: Vec<String>,
    pub(crate) err: bool,
    pub(crate) ret: bool,
    pub(crate) krate: syn::Path,
}

pub(crate) enum Value {
    Expr(syn::Expr),
    Argument(syn::Ident),
}

pub(crate) fn check(args: TraceArgs, function: &syn::ItemFn, errors: &mut Errors) -> Option<Site> {
    let before = errors.is_empty();
    if let Some(name) = &args.name
        && name.value().trim().is_empty()
    {
        errors.push(syn::Error::new(name.span(), "the span name cannot be empty"));
    }
    // The arguments that can be recorded: plain `name: Type` ones.
    let arguments: Vec<syn::Ident> = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            syn::FnArg::Typed(typed) => match &*typed.pat {
                syn::Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.clone()),
                _ => None,
            },
            syn::FnArg::Receiver(_) => None,
        })
        .collect();
    let known = |ident: &syn::Ident, errors: &mut Errors| {
        let found = arguments.iter().any(|argument| argument == ident);
        if !found {
            let is_self = ident == "self";
            errors.push(syn::Error::new(
                ident.span(),
                if is_self {
                    "`self` is never recorded".to_owned()
                } else {
                    format!(
                        "`{ident}` is not an argument of this function (only `name: Type` arguments can be recorded)"
                    )
                },
            ));
        }
        found
    };
    let mut recorded: Vec<syn::Ident> = match &args.recorded {
        None => Vec::new(),
        Some(Recorded::All(_)) => arguments.clone(),
        Some(Recorded::Some(names)) => names.iter().filter(|name| known(name, errors)).cloned().collect(),
    };
    if let (Some(skip_all), Some(recorded)) = (args.skip_all, &args.recorded) {
        let span = match recorded {
            Recorded::All(span) => *span,
            Recorded::Some(names) => names.first().map_or(skip_all, syn::Ident::span),
        };
        errors.push(syn::Error::new(span, "`args` records arguments and `skip_all` records none: keep one"));
    }
    if let Some(skip_span) = args.skip_span {
        if args.recorded.is_none() {
            errors.push(syn::Error::new(
                skip_span,
                "arguments are not recorded unless `args` is given, so `skip` has nothing to skip",
            ));
        }
        for name in args.skip.iter().flatten() {
            if known(name, errors) {
                recorded.retain(|argument| argument != name);
            }
        }
    }
    let mut attributes: Vec<(String, Span, Value)> = Vec::new();
    for field in args.fields.into_iter().flatten() {
        if attributes.iter().any(|(key, _, _)| *key == field.key) {
            errors.push(syn::Error::new(field.span, format!("duplicate field `{}`", field.key)));
            continue;
        }
        attributes.push((field.key, field.span, Value::Expr(field.value)));
    }
    for argument in recorded {
        let key = argument.to_string();
        if attributes.iter().any(|(existing, _, _)| *existing == key) {
            // A field of the same name says what to record instead.
            continue;
        }
        attributes.push((key, argument.span(), Value::Argument(argument)));
    }
    let unredacted_names = args.unredacted.unwrap_or_default();
    let unredacted = unredacted_names.iter().map(ToString::to_string).collect::<Vec<_>>();
    for name in &unredacted_names {
        let key = name.to_string();
        if !attributes.iter().any(|(existing, _, _)| *existing == key) {
            errors.push(syn::Error::new(name.span(), format!("`{key}` is not a recorded field or argument")));
        }
    }
    if !(before && errors.is_empty()) {
        return None;
    }
    Some(Site {
        name: args.name,
        kind: args.kind.unwrap_or_default(),
        attributes,
        unredacted,
        err: args.err.unwrap_or(false),
        ret: args.ret.unwrap_or(false),
        krate: args.krate.unwrap_or_else(|| syn::parse_quote!(::obs_runtime)),
    })
}
