//! Names of secrets: a field, attribute or argument named like one is written as `[REDACTED]`.
//! Shared by the JSON logs and the spans; `const` so that `#[trace_operation]` decides at compile
//! time, for a literal name, whether a value is ever looked at.

/// Written in place of a secret.
#[cfg(any(feature = "logging", feature = "trace"))]
pub const REDACTED: &str = "[REDACTED]";

/// The names redacted by default (compared case-insensitively, `-` and `_` alike).
pub const DEFAULT_SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "set-cookie",
    "credit_card",
    "ssn",
];

/// `a` and `b` are equal once both are normalized (ASCII lowercase, `-` as `_`).
const fn normalized_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if normalize(a[index]) != normalize(b[index]) {
            return false;
        }
        index += 1;
    }
    true
}

const fn normalize(byte: u8) -> u8 {
    if byte == b'-' { b'_' } else { byte.to_ascii_lowercase() }
}

/// `name` is `secret`, or ends with a `_`, `-` or `.` and `secret` (compared normalized):
/// `access_token`, `db_password`, `x-api-key`, `user.password`. No allocation.
pub(crate) const fn ends_with_secret(name: &str, secret: &str) -> bool {
    let (name, secret) = (name.as_bytes(), secret.as_bytes());
    if name.len() < secret.len() {
        return false;
    }
    let split = name.len() - secret.len();
    let (head, tail) = name.split_at(split);
    if !normalized_eq(tail, secret) {
        return false;
    }
    split == 0 || matches!(head[split - 1], b'_' | b'-' | b'.')
}

/// Whether `name` is one of [`DEFAULT_SECRET_NAMES`] or ends in one after a separator.
///
/// ```
/// use obs_runtime::is_secret_name;
///
/// assert!(is_secret_name("password") && is_secret_name("X-Api-Key") && is_secret_name("db.password"));
/// assert!(!is_secret_name("user_id") && !is_secret_name("tokens"));
/// ```
pub const fn is_secret_name(name: &str) -> bool {
    let mut index = 0;
    while index < DEFAULT_SECRET_NAMES.len() {
        if ends_with_secret(name, DEFAULT_SECRET_NAMES[index]) {
            return true;
        }
        index += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        const { assert!(is_secret_name("access_token")) };
        for secret in ["PASSWORD", "set_cookie", "Set-Cookie", "x-api-key", "user.password", "ssn"] {
            assert!(is_secret_name(secret), "{secret}");
        }
        for plain in ["", "passwords", "tokenizer", "mytoken", "user_id", "ssn_hash", "é_token_"] {
            assert!(!is_secret_name(plain), "{plain}");
        }
        assert!(is_secret_name("é_token"));
    }
}
