//! The arguments of `#[track_request]` as typed data.
//!
//! Accepted: `"GET", "/users"` (positional) or `method = "GET", endpoint =
//! "/users"`, then any of `buckets = [..]`, `track_concurrency`, `log_errors`, `trace`, `crate =
//! path`. Every argument is parsed on its own, so one bad argument does not hide the errors of
//! the others.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};

use crate::errors::Errors;
use crate::tokens;

pub(crate) const OPTIONS: &str = "`method`, `endpoint`, `buckets`, `track_concurrency`, `log_errors`, `trace`, `crate`";

mod kw {
    syn::custom_keyword!(method);
    syn::custom_keyword!(endpoint);
    syn::custom_keyword!(buckets);
    syn::custom_keyword!(track_concurrency);
    syn::custom_keyword!(log_errors);
    syn::custom_keyword!(trace);
}

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
    pub(crate) track_concurrency: Option<bool>,
    pub(crate) log_errors: Option<bool>,
    /// `trace` (`Some(None)`) or `trace = "span name"`: also a server span, in the same expansion.
    pub(crate) trace: Option<Option<syn::LitStr>>,
    pub(crate) krate: Option<syn::Path>,
    /// The method or endpoint was written, even if wrongly: its own error says what is wrong, so
    /// no second error says it is missing.
    pub(crate) method_written: bool,
    pub(crate) endpoint_written: bool,
    /// How many positional arguments were written, and whether a named one came before.
    positional: usize,
    named_seen: bool,
    method_named: bool,
    endpoint_named: bool,
    /// The errors of the arguments that did not parse.
    errors: Errors,
}

impl RequestArgs {
    /// The arguments, as far as they parse; the errors of those that do not go to `errors`.
    pub(crate) fn from_tokens(tokens: TokenStream, errors: &mut Errors) -> RequestArgs {
        match syn::parse2::<RequestArgs>(tokens) {
            Ok(mut args) => {
                errors.append(std::mem::take(&mut args.errors));
                args
            }
            Err(error) => {
                errors.push(error);
                RequestArgs { method_written: true, endpoint_written: true, ..RequestArgs::default() }
            }
        }
    }

    fn parse_one(&mut self, input: ParseStream) -> syn::Result<()> {
        if input.peek(syn::Lit) {
            return self.parse_positional(input);
        }
        self.named_seen = true;
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::method) || lookahead.peek(kw::endpoint) {
            self.parse_method_or_endpoint(input)
        } else if lookahead.peek(kw::buckets) {
            let key: kw::buckets = input.parse()?;
            if self.buckets.is_some() {
                return Err(tokens::duplicate(key.span, "buckets"));
            }
            input.parse::<syn::Token![=]>().map_err(|_| {
                syn::Error::new(key.span, "expected `buckets = [..]`, e.g. buckets = [0.005, 0.05, 0.5, 5.0]")
            })?;
            self.buckets = Some(parse_buckets(input)?);
            Ok(())
        } else if lookahead.peek(kw::track_concurrency) {
            tokens::once(&self.track_concurrency, input.span(), "track_concurrency")?;
            self.track_concurrency = Some(tokens::flag::<kw::track_concurrency>(input, "track_concurrency")?);
            Ok(())
        } else if lookahead.peek(kw::log_errors) {
            tokens::once(&self.log_errors, input.span(), "log_errors")?;
            self.log_errors = Some(tokens::flag::<kw::log_errors>(input, "log_errors")?);
            Ok(())
        } else if lookahead.peek(kw::trace) {
            tokens::once(&self.trace, input.span(), "trace")?;
            input.parse::<kw::trace>()?;
            self.trace = Some(None);
            if input.parse::<Option<syn::Token![=]>>()?.is_some() {
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
            }
            Ok(())
        } else if lookahead.peek(syn::Token![crate]) {
            tokens::once(&self.krate, input.span(), "crate")?;
            self.krate = Some(tokens::crate_path(input)?);
            Ok(())
        } else if self.positional < 2 && input.peek(syn::Ident) && is_bare_method(input) {
            // `#[track_request(GET, "/users")]`: a method written as a bare word. It stands where
            // a positional argument goes, so what follows is not "after a named one".
            let word: syn::Ident = input.parse()?;
            self.named_seen = false;
            self.positional += 1;
            if self.positional == 1 {
                self.method_written = true;
            }
            Err(syn::Error::new(word.span(), format!("expected a string literal: write \"{word}\"")))
        } else {
            Err(tokens::not_an_option(input, OPTIONS))
        }
    }

    /// `"GET"` then `"/users"`, before any named option.
    fn parse_positional(&mut self, input: ParseStream) -> syn::Result<()> {
        let lit: syn::Lit = input.parse()?;
        self.positional += 1;
        match self.positional {
            1 => self.method_written = true,
            2 => self.endpoint_written = true,
            _ => {}
        }
        if self.named_seen {
            return Err(syn::Error::new(
                lit.span(),
                "positional arguments come first: write #[track_request(\"GET\", \"/users\", option = ..)]",
            ));
        }
        let syn::Lit::Str(lit) = lit else {
            let what =
                if self.positional == 1 { "the HTTP method, e.g. \"GET\"" } else { "the endpoint, e.g. \"/users\"" };
            return Err(syn::Error::new(lit.span(), format!("expected a string literal: {what}")));
        };
        match self.positional {
            1 => self.method = Some(lit),
            2 => self.endpoint = Some(lit),
            _ => {
                return Err(syn::Error::new(
                    lit.span(),
                    "too many positional arguments: #[track_request] takes the method and the endpoint, e.g. (\"GET\", \"/users\")",
                ));
            }
        }
        Ok(())
    }

    /// `method = ".."` or `endpoint = ".."`.
    fn parse_method_or_endpoint(&mut self, input: ParseStream) -> syn::Result<()> {
        let (is_method, key, name) = if input.peek(kw::method) {
            (true, input.parse::<kw::method>()?.span, "method")
        } else {
            (false, input.parse::<kw::endpoint>()?.span, "endpoint")
        };
        let (named, value) = if is_method {
            (&mut self.method_named, &mut self.method)
        } else {
            (&mut self.endpoint_named, &mut self.endpoint)
        };
        if *named {
            return Err(tokens::duplicate(key, name));
        }
        *named = true;
        if value.is_some() {
            return Err(syn::Error::new(key, format!("the {name} is already given as a positional argument")));
        }
        if is_method {
            self.method_written = true;
        } else {
            self.endpoint_written = true;
        }
        let example = if is_method { "\"GET\"" } else { "\"/users\"" };
        let parsed = tokens::string_value(
            input,
            key,
            &format!("{name} = \"...\""),
            &format!("expected a string literal for `{name}`, e.g. {name} = {example}"),
        )?;
        let value = if is_method { &mut self.method } else { &mut self.endpoint };
        *value = Some(parsed);
        Ok(())
    }
}

impl Parse for RequestArgs {
    fn parse(input: ParseStream) -> syn::Result<RequestArgs> {
        let mut args = RequestArgs::default();
        let mut errors = Errors::default();
        tokens::each_argument(input, &mut errors, |input, _| args.parse_one(input));
        args.errors = errors;
        Ok(args)
    }
}

/// An upper-case word alone in its argument: a method written without quotes.
fn is_bare_method(input: ParseStream) -> bool {
    let fork = input.fork();
    match fork.parse::<syn::Ident>() {
        Ok(word) => {
            (fork.is_empty() || fork.peek(syn::Token![,])) && word.to_string().bytes().all(|b| b.is_ascii_uppercase())
        }
        Err(_) => false,
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
