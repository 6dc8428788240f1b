//! The arguments of `#[track_request]` as typed data.
//!
//! Accepted: `"GET", "/users"` (positional, the chapter's form) or `method = "GET", endpoint =
//! "/users"`, then any of `buckets = [..]`, `track_concurrency`, `crate = path`. Every argument is
//! parsed on its own, so one bad argument does not hide the errors of the others.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};

use crate::errors::Errors;

pub(crate) const OPTIONS: &str = "`method`, `endpoint`, `buckets`, `track_concurrency`, `log_errors`, `trace`, `crate`";

/// A bucket bound as written, with its span for later checks.
pub(crate) struct Bound {
    pub(crate) value: f64,
    pub(crate) span: Span,
}

pub(crate) struct Buckets {
    pub(crate) bounds: Vec<Bound>,
    pub(crate) span: Span,
}

#[derive(Default)]
pub(crate) struct RequestArgs {
    pub(crate) method: Option<syn::LitStr>,
    pub(crate) endpoint: Option<syn::LitStr>,
    pub(crate) buckets: Option<Buckets>,
    pub(crate) track_concurrency: bool,
    pub(crate) log_errors: bool,
    /// `trace` (`Some(None)`) or `trace = "span name"`: also a server span, in the same expansion.
    pub(crate) trace: Option<Option<syn::LitStr>>,
    pub(crate) krate: Option<syn::Path>,
    /// The method or endpoint was written, even if wrongly: its own error says what is wrong, so
    /// no second error says it is missing.
    pub(crate) method_written: bool,
    pub(crate) endpoint_written: bool,
}

impl RequestArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> RequestArgs {
        let mut args = RequestArgs::default();
        let mut positional = 0usize;
        let mut named_seen = false;
        let mut seen: Vec<String> = Vec::new();
        for segment in crate::tokens::split_on_commas(tokens) {
            let result = (|input: ParseStream| args.parse_one(input, &mut positional, &mut named_seen, &mut seen))
                .parse2(segment);
            if let Err(error) = result {
                errors.push(error);
            }
        }
        args
    }

    fn parse_one(
        &mut self,
        input: ParseStream,
        positional: &mut usize,
        named_seen: &mut bool,
        seen: &mut Vec<String>,
    ) -> syn::Result<()> {
        if input.peek(syn::Lit) {
            let lit: syn::Lit = input.parse()?;
            *positional += 1;
            match *positional {
                1 => self.method_written = true,
                2 => self.endpoint_written = true,
                _ => {}
            }
            if *named_seen {
                return Err(syn::Error::new(
                    lit.span(),
                    "positional arguments come first: write #[track_request(\"GET\", \"/users\", option = ..)]",
                ));
            }
            let syn::Lit::Str(lit) = lit else {
                let what =
                    if *positional == 1 { "the HTTP method, e.g. \"GET\"" } else { "the endpoint, e.g. \"/users\"" };
                return Err(syn::Error::new(lit.span(), format!("expected a string literal: {what}")));
            };
            match *positional {
                1 => self.method = Some(lit),
                2 => self.endpoint = Some(lit),
                _ => {
                    return Err(syn::Error::new(
                        lit.span(),
                        "too many positional arguments: #[track_request] takes the method and the endpoint, e.g. (\"GET\", \"/users\")",
                    ));
                }
            }
            return input.parse::<syn::parse::Nothing>().map(|_| ());
        }
        *named_seen = true;
        let key: syn::Ident = input
            .call(syn::ext::IdentExt::parse_any)
            .map_err(|error| syn::Error::new(error.span(), format!("expected an option: one of {OPTIONS}")))?;
        let name = key.to_string();
        if *positional < 2 && input.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase()) {
            // `#[track_request(GET, "/users")]`: a method written as a bare word. It stands
            // where a positional argument goes, so what follows is not "after a named one".
            *named_seen = false;
            *positional += 1;
            if *positional == 1 {
                self.method_written = true;
            }
            return Err(syn::Error::new(key.span(), format!("expected a string literal: write \"{name}\"")));
        }
        if seen.contains(&name) {
            return Err(syn::Error::new(key.span(), format!("duplicate option `{name}`")));
        }
        seen.push(name.clone());
        match name.as_str() {
            "method" | "endpoint" => {
                let taken = if name == "method" { self.method.is_some() } else { self.endpoint.is_some() };
                if taken {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("the {name} is already given as a positional argument"),
                    ));
                }
                if name == "method" {
                    self.method_written = true;
                } else {
                    self.endpoint_written = true;
                }
                let value = string_value(input, &key)?;
                if name == "method" {
                    self.method = Some(value);
                } else {
                    self.endpoint = Some(value);
                }
            }
            "buckets" => {
                input.parse::<syn::Token![=]>().map_err(|_| {
                    syn::Error::new(key.span(), "expected `buckets = [..]`, e.g. buckets = [0.005, 0.05, 0.5, 5.0]")
                })?;
                self.buckets = Some(parse_buckets(input)?);
            }
            "track_concurrency" => self.track_concurrency = crate::tokens::parse_flag(input, "track_concurrency")?,
            "log_errors" => self.log_errors = crate::tokens::parse_flag(input, "log_errors")?,
            "trace" => {
                if input.peek(syn::Token![=]) {
                    input.parse::<syn::Token![=]>()?;
                    match input.parse::<syn::Expr>()? {
                        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(name), .. })
                            if !name.value().trim().is_empty() =>
                        {
                            self.trace = Some(Some(name));
                        }
                        other => {
                            return Err(syn::Error::new_spanned(
                                other,
                                "expected the span name as a non-empty string literal, e.g. trace = \"get_user\"",
                            ));
                        }
                    }
                } else {
                    self.trace = Some(None);
                }
            }
            "crate" => self.krate = Some(crate::tokens::parse_crate_path(input, &key)?),
            _ => {
                return Err(syn::Error::new(key.span(), format!("unknown option `{name}`; expected one of {OPTIONS}")));
            }
        }
        input.parse::<syn::parse::Nothing>().map(|_| ())
    }
}

fn string_value(input: ParseStream, key: &syn::Ident) -> syn::Result<syn::LitStr> {
    input.parse::<syn::Token![=]>().map_err(|_| syn::Error::new(key.span(), format!("expected `{key} = \"...\"`")))?;
    let example = if key == "method" { "\"GET\"" } else { "\"/users\"" };
    match input.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) => Ok(value),
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected a string literal for `{key}`, e.g. {key} = {example}"),
        )),
    }
}

fn parse_buckets(input: ParseStream) -> syn::Result<Buckets> {
    let content;
    let bracket = syn::bracketed!(content in input);
    let mut bounds = Vec::new();
    let mut errors = Errors::default();
    let elements = content.parse_terminated(syn::Expr::parse, syn::Token![,])?;
    for element in elements {
        let value = match &element {
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Float(float), .. }) => float.base10_parse::<f64>(),
            syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(int), .. }) => {
                int.base10_parse::<u64>().map(|value| value as f64)
            }
            syn::Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), .. }) => {
                Err(syn::Error::new_spanned(&element, "a bucket bound is a duration in seconds: it cannot be negative"))
            }
            other => Err(syn::Error::new_spanned(
                other,
                "expected a number of seconds, e.g. 0.25 (bucket bounds are upper bounds in seconds)",
            )),
        };
        match value {
            Ok(value) => bounds.push(Bound { value, span: syn::spanned::Spanned::span(&element) }),
            Err(error) => errors.push(error),
        }
    }
    errors.finish()?;
    Ok(Buckets { bounds, span: bracket.span.join() })
}

use syn::parse::Parse as _;
