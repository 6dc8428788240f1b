//! What is never written: fields whose names are secrets, and (opt-in) values that look like
//! bearer tokens or card numbers.

/// The field names redacted by default: a field is redacted when one of them is a word of its
/// name, as [`is_secret_name`](crate::is_secret_name) matches them (`password`, `db_password`,
/// `user[password]`, `accessToken`, `X-Api-Key`; not `author` or `passenger`).
pub use crate::secret::DEFAULT_SECRET_NAMES as DEFAULT_REDACTED_FIELDS;
pub(crate) use crate::secret::REDACTED;
use crate::secret::names_term;

#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    /// Whether all of [`DEFAULT_REDACTED_FIELDS`] are redacted: [`is_secret_name`] then decides
    /// for them in one pass (the usual case, on every field of every line).
    ///
    /// [`is_secret_name`]: crate::is_secret_name
    defaults: bool,
    /// The other names, as given: [`names_term`] reads them by the same rule.
    others: Vec<String>,
    pub(crate) mask_values: bool,
}

impl Redactor {
    pub(crate) fn new(names: &[String], mask_values: bool) -> Redactor {
        let defaults = DEFAULT_REDACTED_FIELDS.iter().all(|default| names.iter().any(|name| name == default));
        let others = names
            .iter()
            .filter(|name| !(defaults && DEFAULT_REDACTED_FIELDS.contains(&name.as_str())))
            .cloned()
            .collect();
        Redactor { defaults, others, mask_values }
    }

    /// Whether a field of this name is redacted: one of the names is in it by the rule of
    /// [`is_secret_name`](crate::is_secret_name) (whole words, any separator, camelCase,
    /// `%XX` decoded). No allocation.
    pub(crate) fn is_secret(&self, name: &str) -> bool {
        (self.defaults && crate::is_secret_name(name)) || self.others.iter().any(|secret| names_term(name, secret))
    }

    /// `value` with bearer tokens and card numbers masked, when masking is on and there is
    /// something to mask; `None` to write the value as it is.
    pub(crate) fn mask(&self, value: &str) -> Option<String> {
        if !self.mask_values {
            return None;
        }
        let masked = mask_cards(&mask_bearer(value));
        (masked != value).then_some(masked)
    }
}

/// `Bearer abc.def` -> `Bearer [REDACTED]` (any case), wherever it appears.
fn mask_bearer(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let mut out = String::with_capacity(value.len());
    let mut rest = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find("bearer ") {
        let start = search + found;
        let token_start = start + "bearer ".len();
        let token_len = value[token_start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == ',' || c == ';')
            .unwrap_or(value.len() - token_start);
        if token_len == 0 {
            search = token_start;
            continue;
        }
        out.push_str(&value[rest..token_start]);
        out.push_str(REDACTED);
        rest = token_start + token_len;
        search = rest;
    }
    out.push_str(&value[rest..]);
    out
}

/// Runs of 13 to 19 digits (spaces and dashes allowed between) that pass the Luhn check: all but
/// the last four digits masked.
fn mask_cards(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut index = 0;
    while index < chars.len() {
        if !chars[index].is_ascii_digit() {
            out.push(chars[index]);
            index += 1;
            continue;
        }
        // The longest run of digits and single separators from here.
        let mut end = index;
        let mut digits = Vec::new();
        while end < chars.len() {
            if chars[end].is_ascii_digit() {
                digits.push(chars[end]);
                end += 1;
            } else if (chars[end] == ' ' || chars[end] == '-')
                && end + 1 < chars.len()
                && chars[end + 1].is_ascii_digit()
                && !digits.is_empty()
            {
                end += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits.len()) && luhn(&digits) {
            let keep_from = digits.len() - 4;
            let mut seen = 0;
            for ch in &chars[index..end] {
                if ch.is_ascii_digit() {
                    out.push(if seen < keep_from { '*' } else { *ch });
                    seen += 1;
                } else {
                    out.push(*ch);
                }
            }
        } else {
            out.extend(&chars[index..end]);
        }
        index = end;
    }
    out
}

fn luhn(digits: &[char]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = digit.to_digit(10).unwrap_or(0);
            if position % 2 == 1 {
                let doubled = value * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                value
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(mask: bool) -> Redactor {
        let names: Vec<String> = DEFAULT_REDACTED_FIELDS.iter().map(|name| (*name).to_owned()).collect();
        Redactor::new(&names, mask)
    }

    #[test]
    fn names() {
        let redactor = redactor(false);
        for secret in [
            "password",
            "PASSWORD",
            "Set-Cookie",
            "set_cookie",
            "user.password",
            "user[password]",
            "pass%77ord",
            "api_key",
            "apiKey",
            "access_token",
            "refresh_token",
            "client_secret",
            "db_password",
            "x-api-key",
            "auth_token",
            "mytoken",
            "sessionid",
            "password_hint_shown",
            "ssn_verified",
        ] {
            assert!(redactor.is_secret(secret), "{secret}");
            assert_eq!(redactor.is_secret(secret), crate::is_secret_name(secret), "one rule: {secret}");
        }
        for plain in ["user_id", "tokens_used", "passwords.count", "author", "authority", "passenger"] {
            assert!(!redactor.is_secret(plain), "{plain}");
        }
    }

    #[test]
    fn own_names_follow_the_same_rule() {
        let redactor = Redactor::new(&["pin".to_owned(), "Card-PIN".to_owned()], false);
        for secret in ["pin", "PIN", "user.pin", "userPin", "card_pin", "cardPIN", "pi%6E"] {
            assert!(redactor.is_secret(secret), "{secret}");
        }
        for plain in ["spin", "pinned", "password"] {
            assert!(!redactor.is_secret(plain), "{plain}: only the names given");
        }
        let mut names: Vec<String> = DEFAULT_REDACTED_FIELDS.iter().map(|name| (*name).to_owned()).collect();
        names.push("pin".to_owned());
        let both = Redactor::new(&names, false);
        assert!(both.defaults && both.others == ["pin"]);
        assert!(both.is_secret("user_pin") && both.is_secret("user[password]") && !both.is_secret("author"));
    }

    #[test]
    fn values() {
        let redactor = redactor(true);
        assert_eq!(redactor.mask("Authorization: Bearer abc.def-123"), Some("Authorization: Bearer [REDACTED]".into()));
        assert_eq!(redactor.mask("card 4111 1111 1111 1111 ok"), Some("card **** **** **** 1111 ok".into()));
        assert_eq!(redactor.mask("4111-1111-1111-1111"), Some("****-****-****-1111".into()));
        // Not a card (fails Luhn), and plain text, stay as they are.
        assert_eq!(redactor.mask("order 4111111111111112"), None);
        assert_eq!(redactor.mask("user 12345 logged in"), None);
        assert_eq!(self::redactor(false).mask("Bearer abc"), None);
    }
}
