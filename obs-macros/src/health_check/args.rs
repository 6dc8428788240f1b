//! The arguments of `#[health_check]`: `name = ".."` (or the name first, as a string), `timeout =
//! ".."`, `critical` / `critical = bool`, `crate = path`. All optional.

use proc_macro2::TokenStream;
use syn::parse::{ParseStream, Parser};

use crate::errors::Errors;

const OPTIONS: &str = "`name`, `timeout`, `critical`, `crate`";

/// The longest timeout accepted: past a day, it is a typo.
const MAX_TIMEOUT_NANOS: u128 = 86_400 * 1_000_000_000;

pub(crate) struct CheckArgs {
    pub(crate) name: Option<syn::LitStr>,
    /// In nanoseconds; the runtime's default when `None`.
    pub(crate) timeout_nanos: Option<u64>,
    pub(crate) critical: bool,
    pub(crate) krate: Option<syn::Path>,
}

impl CheckArgs {
    pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> CheckArgs {
        let mut args = CheckArgs { name: None, timeout_nanos: None, critical: true, krate: None };
        let mut seen = Vec::new();
        let segments = crate::tokens::split_on_commas(tokens);
        for (index, segment) in segments.into_iter().enumerate() {
            let result = (|input: ParseStream| args.parse_one(input, index, &mut seen)).parse2(segment);
            if let Err(error) = result {
                errors.push(error);
            }
        }
        args
    }

    fn parse_one(&mut self, input: ParseStream, index: usize, seen: &mut Vec<String>) -> syn::Result<()> {
        if input.peek(syn::LitStr) && index == 0 {
            self.name = Some(checked_name(input.parse()?)?);
            seen.push("name".to_owned());
            return input.parse::<syn::parse::Nothing>().map(|_| ());
        }
        let key: syn::Ident = input
            .call(syn::ext::IdentExt::parse_any)
            .map_err(|error| syn::Error::new(error.span(), format!("expected an option: one of {OPTIONS}")))?;
        let name = key.to_string();
        if seen.contains(&name) {
            return Err(syn::Error::new(key.span(), format!("duplicate option `{name}`")));
        }
        seen.push(name.clone());
        match name.as_str() {
            "name" => self.name = Some(checked_name(string_value(input, &key, "\"database\"")?)?),
            "timeout" => {
                let literal = string_value(input, &key, "\"2s\"")?;
                self.timeout_nanos = Some(parse_timeout(&literal)?);
            }
            "critical" => self.critical = crate::tokens::parse_flag(input, "critical")?,
            "crate" => self.krate = Some(crate::tokens::parse_crate_path(input, &key)?),
            _ => {
                return Err(syn::Error::new(key.span(), format!("unknown option `{name}`; expected one of {OPTIONS}")));
            }
        }
        input.parse::<syn::parse::Nothing>().map(|_| ())
    }
}

fn string_value(input: ParseStream, key: &syn::Ident, example: &str) -> syn::Result<syn::LitStr> {
    input
        .parse::<syn::Token![=]>()
        .map_err(|_| syn::Error::new(key.span(), format!("expected `{key} = {example}`")))?;
    match input.parse::<syn::Expr>()? {
        syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(value), .. }) => Ok(value),
        other => Err(syn::Error::new_spanned(other, format!("expected a string literal, e.g. {key} = {example}"))),
    }
}

fn checked_name(name: syn::LitStr) -> syn::Result<syn::LitStr> {
    let value = name.value();
    if value.trim().is_empty() {
        return Err(syn::Error::new(name.span(), "a health check's name cannot be empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(syn::Error::new(name.span(), "a health check's name cannot hold control characters"));
    }
    Ok(name)
}

/// `"2s"`, `"500ms"`, `"1.5s"`, `"1m"`: a positive duration of at most a day, in nanoseconds.
fn parse_timeout(literal: &syn::LitStr) -> syn::Result<u64> {
    let text = literal.value();
    let error = |message: &str| syn::Error::new(literal.span(), message);
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let nanos_per_unit: u128 = match unit {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        _ => return Err(error("expected a duration with a unit: \"500ms\", \"2s\" or \"1m\"")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(error("expected a duration with a unit: \"500ms\", \"2s\" or \"1m\""));
    }
    let digits = |part: &str| -> syn::Result<u128> {
        if part.is_empty() { Ok(0) } else { part.parse::<u128>().map_err(|_| error("the timeout is not a number")) }
    };
    let whole = digits(whole)?;
    if fraction.len() > 9 {
        return Err(error("the timeout has more than nine decimals"));
    }
    let fraction_nanos = digits(fraction)? * nanos_per_unit / 10u128.pow(fraction.len() as u32);
    let nanos = whole.saturating_mul(nanos_per_unit).saturating_add(fraction_nanos);
    if nanos == 0 {
        return Err(error("a timeout of zero would fail every run; give the check time, e.g. \"2s\""));
    }
    if nanos > MAX_TIMEOUT_NANOS {
        return Err(error("a health check's timeout is at most a day"));
    }
    u64::try_from(nanos).map_err(|_| error("a health check's timeout is at most a day"))
}

#[cfg(test)]
mod tests {
    use super::parse_timeout;

    fn nanos(text: &str) -> Result<u64, String> {
        parse_timeout(&syn::LitStr::new(text, proc_macro2::Span::call_site())).map_err(|error| error.to_string())
    }

    #[test]
    fn timeouts() {
        assert_eq!(nanos("2s"), Ok(2_000_000_000));
        assert_eq!(nanos("500ms"), Ok(500_000_000));
        assert_eq!(nanos("1.5s"), Ok(1_500_000_000));
        assert_eq!(nanos("0.25ms"), Ok(250_000));
        assert_eq!(nanos("1m"), Ok(60_000_000_000));
        assert!(nanos("0s").is_err());
        assert!(nanos("2").is_err());
        assert!(nanos("2h").is_err());
        assert!(nanos("s").is_err());
        assert!(nanos("1.2.3s").is_err());
        assert!(nanos("2000m").is_err());
    }
}
