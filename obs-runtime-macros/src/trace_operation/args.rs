//! The arguments of `#[trace_operation]` as typed data.
//!
//! Accepted: an optional name first (`"process_user_request"` or `name = ".."`), then any of
//! `kind = server|client|internal|producer|consumer`, `args`, `args(a, b)`, `skip(a, b)`,
//! `skip_all`, `fields(key = expr, ..)`, `unredacted(name, ..)`, `err`, `ret`, `crate = path`.
//! Every argument (and every field) is parsed on its own, so one bad one does not hide the errors
//! of the others.

use proc_macro2::{Span, TokenStream};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;

use crate::errors::Errors;
use crate::tokens;

pub(crate) const OPTIONS: &str =
    "`name`, `kind`, `args`, `skip`, `skip_all`, `fields`, `unredacted`, `err`, `ret`, `crate`";

const KINDS: &str = "server, client, internal, producer, consumer";

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(kind);
    syn::custom_keyword!(args);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(unredacted);
    syn::custom_keyword!(err);
    syn::custom_keyword!(ret);
    syn::custom_keyword!(server);
    syn::custom_keyword!(client);
    syn::custom_keyword!(internal);
    syn::custom_keyword!(producer);
    syn::custom_keyword!(consumer);
}

/// The span kind, as OpenTelemetry names them.
#[derive(Clone, Copy, Default)]
pub(crate) enum SpanKind {
    Server,
    Client,
    #[default]
    Internal,
    Producer,
    Consumer,
}

impl Parse for SpanKind {
    fn parse(input: ParseStream) -> syn::Result<SpanKind> {
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::server) {
            input.parse::<kw::server>().map(|_| SpanKind::Server)
        } else if lookahead.peek(kw::client) {
            input.parse::<kw::client>().map(|_| SpanKind::Client)
        } else if lookahead.peek(kw::internal) {
            input.parse::<kw::internal>().map(|_| SpanKind::Internal)
        } else if lookahead.peek(kw::producer) {
            input.parse::<kw::producer>().map(|_| SpanKind::Producer)
        } else if lookahead.peek(kw::consumer) {
            input.parse::<kw::consumer>().map(|_| SpanKind::Consumer)
        } else {
            Err(match input.call(<syn::Ident as syn::ext::IdentExt>::parse_any) {
                Ok(word) => {
                    syn::Error::new(word.span(), format!("unknown span kind `{word}`; expected one of {KINDS}"))
                }
                Err(error) => syn::Error::new(error.span(), format!("expected one of {KINDS}")),
            })
        }
    }
}

/// Which arguments are recorded.
pub(crate) enum Recorded {
    /// `args`: all of them (but `skip`ped ones).
    All(Span),
    /// `args(a, b)`.
    Some(Vec<syn::Ident>),
}

/// `fields(key = expr)`: the key as written (`db.system` or `"db.system"`), its span, the value.
pub(crate) struct Field {
    pub(crate) key: String,
    pub(crate) span: Span,
    pub(crate) value: syn::Expr,
}

#[derive(Default)]
pub(crate) struct TraceArgs {
    pub(crate) name: Option<syn::LitStr>,
    pub(crate) kind: Option<SpanKind>,
    pub(crate) recorded: Option<Recorded>,
    pub(crate) skip: Option<Vec<syn::Ident>>,
    pub(crate) skip_span: Option<Span>,
    pub(crate) skip_all: Option<Span>,
    pub(crate) fields: Option<Vec<Field>>,
    pub(crate) unredacted: Option<Vec<syn::Ident>>,
    pub(crate) err: Option<bool>,
    pub(crate) ret: Option<bool>,
    pub(crate) krate: Option<syn::Path>,
    /// The errors of the arguments that did not parse.
    errors: Errors,
}

impl TraceArgs {
    /// The arguments, as far as they parse; the errors of those that do not go to `errors`.
    pub(crate) fn from_tokens(tokens: TokenStream, errors: &mut Errors) -> TraceArgs {
        match syn::parse2::<TraceArgs>(tokens) {
            Ok(mut args) => {
                errors.append(std::mem::take(&mut args.errors));
                args
            }
            Err(error) => {
                errors.push(error);
                TraceArgs::default()
            }
        }
    }

    fn parse_one(&mut self, input: ParseStream, index: usize) -> syn::Result<()> {
        if input.peek(syn::Lit) {
            let lit: syn::Lit = input.parse()?;
            let syn::Lit::Str(lit) = lit else {
                return Err(syn::Error::new(
                    lit.span(),
                    "expected the span name as a string literal, e.g. \"process_user_request\"",
                ));
            };
            if index != 0 {
                return Err(syn::Error::new(
                    lit.span(),
                    "the span name comes first: write #[trace_operation(\"name\", option = ..)]",
                ));
            }
            self.name = Some(lit);
            return Ok(());
        }
        let key = input.span();
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            if self.name.is_some() {
                return Err(syn::Error::new(key, "the span name is given twice"));
            }
            input.parse::<kw::name>()?;
            self.name = Some(tokens::string_value(
                input,
                key,
                "name = \"...\"",
                "expected a string literal, e.g. name = \"process_user_request\"",
            )?);
        } else if lookahead.peek(kw::kind) {
            tokens::once(&self.kind, key, "kind")?;
            input.parse::<kw::kind>()?;
            input.parse::<syn::Token![=]>().map_err(|_| {
                syn::Error::new(key, "expected `kind = server`, `client`, `internal`, `producer` or `consumer`")
            })?;
            self.kind = Some(input.parse()?);
        } else if lookahead.peek(kw::args) {
            tokens::once(&self.recorded, key, "args")?;
            input.parse::<kw::args>()?;
            self.recorded = Some(if input.peek(syn::token::Paren) {
                Recorded::Some(ident_list(input)?)
            } else {
                Recorded::All(key)
            });
        } else if lookahead.peek(kw::skip) {
            tokens::once(&self.skip_span, key, "skip")?;
            input.parse::<kw::skip>()?;
            self.skip_span = Some(key);
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new(key, "expected `skip(arg, ..)`"));
            }
            self.skip = Some(ident_list(input)?);
        } else if lookahead.peek(kw::skip_all) {
            tokens::once(&self.skip_all, key, "skip_all")?;
            input.parse::<kw::skip_all>()?;
            self.skip_all = Some(key);
        } else if lookahead.peek(kw::unredacted) {
            tokens::once(&self.unredacted, key, "unredacted")?;
            input.parse::<kw::unredacted>()?;
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new(key, "expected `unredacted(name, ..)`"));
            }
            self.unredacted = Some(ident_list(input)?);
        } else if lookahead.peek(kw::fields) {
            tokens::once(&self.fields, key, "fields")?;
            input.parse::<kw::fields>()?;
            if !input.peek(syn::token::Paren) {
                return Err(syn::Error::new(key, "expected `fields(key = value, ..)`"));
            }
            let content;
            syn::parenthesized!(content in input);
            let mut fields = Vec::new();
            let mut errors = Errors::default();
            tokens::each_argument(&content, &mut errors, |input, _| {
                fields.push(input.parse::<Field>()?);
                Ok(())
            });
            // The fields that parsed count as given, so a second `fields` is still a duplicate.
            self.fields = Some(fields);
            errors.finish()?;
        } else if lookahead.peek(kw::err) {
            tokens::once(&self.err, key, "err")?;
            self.err = Some(tokens::flag::<kw::err>(input, "err")?);
        } else if lookahead.peek(kw::ret) {
            tokens::once(&self.ret, key, "ret")?;
            self.ret = Some(tokens::flag::<kw::ret>(input, "ret")?);
        } else if lookahead.peek(syn::Token![crate]) {
            tokens::once(&self.krate, key, "crate")?;
            self.krate = Some(tokens::crate_path(input)?);
        } else {
            return Err(tokens::not_an_option(input, OPTIONS));
        }
        Ok(())
    }
}

impl Parse for TraceArgs {
    fn parse(input: ParseStream) -> syn::Result<TraceArgs> {
        let mut args = TraceArgs::default();
        let mut errors = Errors::default();
        tokens::each_argument(input, &mut errors, |input, index| args.parse_one(input, index));
        args.errors = errors;
        Ok(args)
    }
}

fn ident_list(input: ParseStream) -> syn::Result<Vec<syn::Ident>> {
    let content;
    syn::parenthesized!(content in input);
    let names: Punctuated<syn::Ident, syn::Token![,]> = content
        .parse_terminated(syn::ext::IdentExt::parse_any, syn::Token![,])
        .map_err(|error| syn::Error::new(error.span(), "expected argument names, e.g. (user_id, password)"))?;
    Ok(names.into_iter().collect())
}

/// `key = value`, the key an identifier path (`db.system`) or a string literal, the value any
/// expression (`HashMap::<K, V>::new().len()` included).
impl Parse for Field {
    fn parse(input: ParseStream) -> syn::Result<Field> {
        let (key, span) = if input.peek(syn::LitStr) {
            let key: syn::LitStr = input.parse()?;
            if key.value().is_empty() {
                return Err(syn::Error::new(key.span(), "a field name cannot be empty"));
            }
            (key.value(), key.span())
        } else {
            let first: syn::Ident = input
                .call(syn::ext::IdentExt::parse_any)
                .map_err(|error| syn::Error::new(error.span(), "expected a field name, e.g. fields(user_id = id)"))?;
            let mut key = first.to_string();
            let span = first.span();
            while input.peek(syn::Token![.]) {
                input.parse::<syn::Token![.]>()?;
                let part: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
                key.push('.');
                key.push_str(&part.to_string());
            }
            (key, span)
        };
        input.parse::<syn::Token![=]>().map_err(|_| syn::Error::new(span, format!("expected `{key} = value`")))?;
        let value: syn::Expr = input.parse()?;
        Ok(Field { key, span, value })
    }
}
