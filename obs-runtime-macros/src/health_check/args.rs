//! The arguments of `#[health_check]`: `name = ".."` (or the name first, as a string), `timeout =
//! ".."`, `critical` / `critical = bool`, `crate = path`. All optional. Every argument is parsed on
//! its own, so one bad argument does not hide the errors of the others.

use std::time::Duration;

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};

use crate::errors::Errors;
use crate::tokens;

const OPTIONS: &str = "`name`, `timeout`, `critical`, `crate`";

/// The longest timeout accepted: past a day, it is a typo.
const MAX_TIMEOUT: Duration = Duration::from_secs(86_400);

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(timeout);
    syn::custom_keyword!(critical);
}

#[derive(Default)]
pub(crate) struct CheckArgs {
    pub(crate) name: Option<syn::LitStr>,
    /// The runtime's default when `None`.
    pub(crate) timeout: Option<Duration>,
    /// Critical unless `critical = false`.
    pub(crate) critical: Option<bool>,
    pub(crate) krate: Option<syn::Path>,
    /// The errors of the arguments that did not parse.
    errors: Errors,
}

impl CheckArgs {
    /// The arguments, as far as they parse; the errors of those that do not go to `errors`.
    pub(crate) fn from_tokens(tokens: TokenStream, errors: &mut Errors) -> CheckArgs {
        match syn::parse2::<CheckArgs>(tokens) {
            Ok(mut args) => {
                errors.append(std::mem::take(&mut args.errors));
                args
            }
            Err(error) => {
                errors.push(error);
                CheckArgs::default()
            }
        }
    }

    fn parse_one(&mut self, input: ParseStream, index: usize) -> syn::Result<()> {
        if input.peek(syn::LitStr) && index == 0 {
            self.name = Some(checked_name(input.parse()?)?);
            return Ok(());
        }
        let key = input.span();
        let lookahead = input.lookahead1();
        if lookahead.peek(kw::name) {
            tokens::once(&self.name, key, "name")?;
            input.parse::<kw::name>()?;
            let name = tokens::string_value(
                input,
                key,
                "name = \"database\"",
                "expected a string literal, e.g. name = \"database\"",
            )?;
            self.name = Some(checked_name(name)?);
        } else if lookahead.peek(kw::timeout) {
            tokens::once(&self.timeout, key, "timeout")?;
            input.parse::<kw::timeout>()?;
            let literal = tokens::string_value(
                input,
                key,
                "timeout = \"2s\"",
                "expected a string literal, e.g. timeout = \"2s\"",
            )?;
            self.timeout = Some(parse_timeout(&literal)?);
        } else if lookahead.peek(kw::critical) {
            tokens::once(&self.critical, key, "critical")?;
            self.critical = Some(tokens::flag::<kw::critical>(input, "critical")?);
        } else if lookahead.peek(syn::Token![crate]) {
            tokens::once(&self.krate, key, "crate")?;
            self.krate = Some(tokens::crate_path(input)?);
        } else {
            return Err(tokens::not_an_option(input, OPTIONS));
        }
        Ok(())
    }
}

impl Parse for CheckArgs {
    fn parse(input: ParseStream) -> syn::Result<CheckArgs> {
        let mut args = CheckArgs::default();
        let mut errors = Errors::default();
        tokens::each_argument(input, &mut errors, |input, index| args.parse_one(input, index));
        args.errors = errors;
        Ok(args)
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

/// `"2s"`, `"500ms"`, `"1.5s"`, `"1m"`: obs's one duration grammar (obs-duration), positive and at
/// most a day.
fn parse_timeout(literal: &syn::LitStr) -> syn::Result<Duration> {
    let error = |message: String| syn::Error::new(literal.span(), message);
    let timeout = obs_duration::parse(&literal.value()).map_err(|wrong| error(wrong.to_string()))?;
    if timeout.is_zero() {
        return Err(error("a timeout of zero would fail every run; give the check time, e.g. \"2s\"".into()));
    }
    if timeout > MAX_TIMEOUT {
        return Err(error("a health check's timeout is at most a day".into()));
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::parse_timeout;

    fn nanos(text: &str) -> Result<u128, String> {
        parse_timeout(&syn::LitStr::new(text, proc_macro2::Span::call_site()))
            .map(|timeout| timeout.as_nanos())
            .map_err(|error| error.to_string())
    }

    #[test]
    fn timeouts() {
        assert_eq!(nanos("2s"), Ok(2_000_000_000));
        assert_eq!(nanos("500ms"), Ok(500_000_000));
        assert_eq!(nanos("1.5s"), Ok(1_500_000_000));
        assert_eq!(nanos("0.25ms"), Ok(250_000));
        assert_eq!(nanos("1m"), Ok(60_000_000_000));
        assert_eq!(nanos("2h"), Ok(7_200_000_000_000));
        assert_eq!(nanos("24h"), Ok(86_400_000_000_000));
        assert!(nanos("0s").err().unwrap_or_default().contains("zero"));
        assert!(nanos("2").err().unwrap_or_default().contains("missing the unit"));
        assert!(nanos("2d").err().unwrap_or_default().contains("unknown unit `d`"));
        assert!(nanos("s").is_err());
        assert!(nanos("1.2.3s").is_err());
        assert!(nanos("2000m").err().unwrap_or_default().contains("at most a day"));
    }
}
