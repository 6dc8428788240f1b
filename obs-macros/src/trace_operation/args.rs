//! The arguments of `#[trace_operation]` as typed data.
//!
//! Accepted: an optional name first (`"process_user_request"` or `name = ".."`), then any of
//! `kind = server|client|internal|producer|consumer`, `args`, `args(a, b)`, `skip(a, b)`,
//! `skip_all`, `fields(key = expr, ..)`, `unredacted(name, ..)`, `err`, `ret`, `crate = path`.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;

use crate::errors::Errors;

pub(crate) const OPTIONS: &str =
    "`name`, `kind`, `args`, `skip`, `skip_all`, `fields`, `unredacted`, `err`, `ret`, `crate`";

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
    pub(crate) kind: Option<syn::Ident>,
    pub(crate) recorded: Option<Recorded>,
    pub(crate) skip: Vec<syn::Ident>,
    pub(crate) skip_span: Option<Span>,
    pub(crate) skip_all: Option<Span>,
    pub(crate) fields: Vec<Field>,
    pub(crate) unredacted: Vec<syn::Ident>,
    pub(crate) err: bool,
    pub(crate) ret: bool,
    pub(crate) krate: Option<syn::Path>,
}

impl TraceArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> TraceArgs {
        let mut args = TraceArgs::default();
        let mut seen: Vec<String> = Vec::new();
        for (index, segment) in crate::tokens::split_on_commas(tokens).into_iter().enumerate() {
            let result = (|input: ParseStream| args.parse_one(input, index, &mut seen)).parse2(segment);
            if let Err(error) = result {
                errors.push(error);
            }
        }
        args
    }

    fn parse_one(&mut self, input: ParseStream, index: usize, seen: &mut Vec<String>) -> syn::Result<()> {
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
            seen.push("name".to_owned());
            self.name = Some(lit);
            return input.parse::<syn::parse::Nothing>().map(|_| ());
        }
        let key: syn::Ident = input
            .call(syn::ext::IdentExt::parse_any)
            .map_err(|error| syn::Error::new(error.span(), format!("expected an option: one of {OPTIONS}")))?;
        let name = key.to_string();
        if seen.contains(&name) {
            let what = if name == "name" {
                "the span name is given twice".to_owned()
            } else {
                format!("duplicate option `{name}`")
            };
            return Err(syn::Error::new(key.span(), what));
        }
        seen.push(name.clone());
        match name.as_str() {
            "name" => {
                input
                    .parse::<syn::Token![=]>()
                    .map_err(|_| syn::Error::new(key.span(), "expected `name = \"...\"`"))?;
                match input.parse::<syn::Expr>()? {
                    syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) => self.name = Some(value),
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "expected a string literal, e.g. name = \"process_user_request\"",
                        ));
                    }
                }
            }
            "kind" => {
                input.parse::<syn::Token![=]>().map_err(|_| {
                    syn::Error::new(
                        key.span(),
                        "expected `kind = server`, `client`, `internal`, `producer` or `consumer`",
                    )
                })?;
                let kind: syn::Ident = input.call(syn::ext::IdentExt::parse_any).map_err(|error| {
                    syn::Error::new(error.span(), "expected one of server, client, internal, producer, consumer")
                })?;
                if !["server", "client", "internal", "producer", "consumer"].contains(&kind.to_string().as_str()) {
                    return Err(syn::Error::new(
                        kind.span(),
                        format!(
                            "unknown span kind `{kind}`; expected one of server, client, internal, producer, consumer"
                        ),
                    ));
                }
                self.kind = Some(kind);
            }
            "args" => {
                if input.peek(syn::token::Paren) {
                    self.recorded = Some(Recorded::Some(ident_list(input)?));
                } else {
                    self.recorded = Some(Recorded::All(key.span()));
                }
            }
            "skip" => {
                self.skip_span = Some(key.span());
                if !input.peek(syn::token::Paren) {
                    return Err(syn::Error::new(key.span(), "expected `skip(arg, ..)`"));
                }
                self.skip = ident_list(input)?;
            }
            "skip_all" => self.skip_all = Some(key.span()),
            "unredacted" => {
                if !input.peek(syn::token::Paren) {
                    return Err(syn::Error::new(key.span(), "expected `unredacted(name, ..)`"));
                }
                self.unredacted = ident_list(input)?;
            }
            "fields" => {
                if !input.peek(syn::token::Paren) {
                    return Err(syn::Error::new(key.span(), "expected `fields(key = value, ..)`"));
                }
                let content;
                syn::parenthesized!(content in input);
                let mut errors = Errors::default();
                for segment in crate::tokens::split_on_commas(content.parse()?) {
                    match parse_field.parse2(segment) {
                        Ok(field) => self.fields.push(field),
                        Err(error) => errors.push(error),
                    }
                }
                errors.finish()?;
            }
            "err" => self.err = crate::tokens::parse_flag(input, "err")?,
            "ret" => self.ret = crate::tokens::parse_flag(input, "ret")?,
            "crate" => self.krate = Some(crate::tokens::parse_crate_path(input, &key)?),
            _ => {
                return Err(syn::Error::new(key.span(), format!("unknown option `{name}`; expected one of {OPTIONS}")));
            }
        }
        input.parse::<syn::parse::Nothing>().map(|_| ())
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

/// `key = value`, the key an identifier path (`db.system`) or a string literal.
fn parse_field(input: ParseStream) -> syn::Result<Field> {
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
