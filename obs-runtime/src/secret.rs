//! What is never shown: values under secret names, and the secret parts of URLs.
//!
//! [`is_secret_name`] is the one rule, for every pillar, that says whether a name (a log field, a
//! span attribute, a function argument, a query parameter) holds a secret. It is `const` so that
//! `#[trace_operation]` and `span_attributes!` decide at compile time, for a literal name, whether
//! a value is ever looked at. `url::for_humans` is how every message writes a URL.

/// Written in place of a secret.
pub const REDACTED: &str = "[REDACTED]";

/// The terms that make a name secret, as [`is_secret_name`] matches them: as whole words of the
/// name (case-insensitive, `%XX` decoded, split at any separator and at camelCase), or as the end
/// of a word for the terms of five letters or more (`mytoken`). A term of several words
/// (`api_key`) also matches them written together or apart (`apikey`, `api-key`, `ApiKey`).
pub const DEFAULT_SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "access_key",
    "private_key",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "cookie",
    "set-cookie",
    "session",
    "session_id",
    "sessid",
    "sid",
    "jwt",
    "csrf",
    "xsrf",
    "otp",
    "signature",
    "sig",
    "credit_card",
    "card_number",
    "cvv",
    "cvc",
    "ssn",
];

/// Terms this long (in letters and digits) also match at the end of a word: `mytoken`,
/// `clientsecret`, `PHPSESSID`. Shorter ones match whole words only, or `pass` would find `bypass`.
const WORD_END_MIN: usize = 5;

/// Whether `name` holds a secret: one of [`DEFAULT_SECRET_NAMES`] is one of its words, or runs of
/// its words written together, or (for terms of five letters or more) the end of one of its words.
///
/// The name is read the way it may arrive: `%XX` escapes decoded (`pass%77ord`), any byte that is
/// not a letter or digit a separator (`user[password]`, `x-api-key`, `db.password`), and words also
/// split at camelCase and between letters and digits (`accessToken`, `XApiKey`, `password2`).
/// Whole words keep `author`, `authority`, `passenger`, `passage`, `bypass`, `tokenizer`,
/// `tokens` and `sessions_total` visible. A term anywhere in the name counts, so names about a
/// secret are redacted too (`token_count`, `auth_type`, `session_duration_ms`, `pass_rate`): list
/// those in `unredacted(..)` of `#[trace_operation]` when they are wanted. Plurals other than
/// `credentials` are not terms (`passwords` stays visible). No allocation.
///
/// ```
/// use obs_runtime::is_secret_name;
///
/// assert!(is_secret_name("password") && is_secret_name("X-Api-Key") && is_secret_name("db.password"));
/// assert!(is_secret_name("user[password]") && is_secret_name("pass%77ord") && is_secret_name("accessToken"));
/// assert!(!is_secret_name("user_id") && !is_secret_name("tokens") && !is_secret_name("author"));
/// ```
pub const fn is_secret_name(name: &str) -> bool {
    has_term(name, DEFAULT_SECRET_NAMES, Some(&DEFAULT_INDEX))
}

/// Whether `term` is in `name` by the rule of [`is_secret_name`] (for lists of one's own).
#[cfg(any(feature = "logging", test))]
pub(crate) const fn names_term(name: &str, term: &str) -> bool {
    has_term(name, &[term], None)
}

/// Whether one of `terms` is in `name`: it ends where a word of `name` ends, and starts a word
/// (or, for a term of [`WORD_END_MIN`] letters or more, anywhere). One pass over the name; at each
/// word end, `index` (when given) narrows `terms` to those ending in the letters just read.
const fn has_term(name: &str, terms: &[&str], index: Option<&TermIndex>) -> bool {
    let name = name.as_bytes();
    if name.is_empty() {
        return false;
    }
    let (mut byte, mut after) = decoded(name, 0);
    let mut kind = KINDS[byte as usize];
    // The last eight letters read (past separators), lowercase, the latest in the low byte.
    let mut recent: u64 = 0;
    loop {
        let at_end = after >= name.len();
        let (next, next_after) = if at_end { (0, after) } else { decoded(name, after) };
        let next_kind = KINDS[next as usize];
        if kind != SEPARATOR {
            recent = (recent << 8) | byte.to_ascii_lowercase() as u64;
            let ends_word = at_end || next_kind == SEPARATOR || breaks(name, kind, next_kind, next_after);
            if ends_word {
                match index {
                    Some(index) => {
                        let bucket = bucket(byte);
                        let mut at = 0;
                        while at < index.counts[bucket] as usize {
                            let (term, tail, mask) = index.entries[bucket][at];
                            if recent & mask == tail && term_ends_at(name, after, terms[term as usize].as_bytes()) {
                                return true;
                            }
                            at += 1;
                        }
                    }
                    None => {
                        let mut at = 0;
                        while at < terms.len() {
                            if term_ends_at(name, after, terms[at].as_bytes()) {
                                return true;
                            }
                            at += 1;
                        }
                    }
                }
            }
        }
        if at_end {
            return false;
        }
        (byte, after, kind) = (next, next_after, next_kind);
    }
}

/// Whether `term`'s letters, read backwards from `end`, are the name's (across separators and
/// word breaks: `api_key` is `apikey`), starting a word or long enough to start inside one.
const fn term_ends_at(name: &[u8], end: usize, term: &[u8]) -> bool {
    let (mut at, mut index, mut letters) = (term.len(), end, 0);
    while at > 0 {
        at -= 1;
        if KINDS[term[at] as usize] == SEPARATOR {
            continue;
        }
        let byte = loop {
            if index == 0 {
                return false;
            }
            let (byte, before) = decoded_before(name, index);
            index = before;
            if KINDS[byte as usize] != SEPARATOR {
                break byte;
            }
        };
        if !byte.eq_ignore_ascii_case(&term[at]) {
            return false;
        }
        letters += 1;
    }
    letters > 0 && (letters >= WORD_END_MIN || starts_word(name, index))
}

/// Whether a word starts at `index` (a letter).
const fn starts_word(name: &[u8], index: usize) -> bool {
    if index == 0 {
        return true;
    }
    let (previous, _) = decoded_before(name, index);
    let (first, after) = decoded(name, index);
    let previous = KINDS[previous as usize];
    previous == SEPARATOR || breaks(name, previous, KINDS[first as usize], after)
}

/// What a byte is to the words of a name: a separator, or a letter of some kind.
const SEPARATOR: u8 = 0;
const LOWER: u8 = 1;
const UPPER: u8 = 2;
const DIGIT: u8 = 3;
/// A byte of a non-ASCII character: a letter without case.
const OTHER: u8 = 4;

const KINDS: [u8; 256] = {
    let mut kinds = [SEPARATOR; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        kinds[byte] = if b.is_ascii_lowercase() {
            LOWER
        } else if b.is_ascii_uppercase() {
            UPPER
        } else if b.is_ascii_digit() {
            DIGIT
        } else if b >= 0x80 {
            OTHER
        } else {
            SEPARATOR
        };
        byte += 1;
    }
    kinds
};

/// Whether a word ends between two letters of these kinds (the second ends before `b_after`):
/// `accessToken`, `password2`, and `APIKey` before the `K` (an uppercase letter followed by a
/// lowercase one starts a word).
const fn breaks(name: &[u8], a: u8, b: u8, b_after: usize) -> bool {
    match (a, b) {
        (LOWER, UPPER) | (LOWER | UPPER, DIGIT) | (DIGIT, LOWER | UPPER) => true,
        (UPPER, UPPER) => b_after < name.len() && KINDS[decoded(name, b_after).0 as usize] == LOWER,
        _ => false,
    }
}

/// The byte at `index` with a `%XX` escape decoded, and the index after it; a malformed escape is
/// read as it is.
const fn decoded(name: &[u8], index: usize) -> (u8, usize) {
    if name[index] == b'%'
        && index + 2 < name.len()
        && let (Some(high), Some(low)) = (hex(name[index + 1]), hex(name[index + 2]))
    {
        return ((high << 4) | low, index + 3);
    }
    (name[index], index + 1)
}

/// The byte that ends at `end` (`end > 0`), decoded, and the index where it starts. Read backwards
/// the same as forwards: `%` is not a hex digit, so no escape hides inside another.
const fn decoded_before(name: &[u8], end: usize) -> (u8, usize) {
    if end >= 3
        && name[end - 3] == b'%'
        && let (Some(high), Some(low)) = (hex(name[end - 2]), hex(name[end - 1]))
    {
        return ((high << 4) | low, end - 3);
    }
    (name[end - 1], end - 1)
}

const fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Letters `a` to `z` (any case), digits, and one bucket for all non-ASCII bytes.
const BUCKETS: usize = 37;
/// The most terms ending in one letter (checked when an index is built).
const PER_BUCKET: usize = 8;

const fn bucket(letter: u8) -> usize {
    match letter {
        b'a'..=b'z' => (letter - b'a') as usize,
        b'A'..=b'Z' => (letter - b'A') as usize,
        b'0'..=b'9' => 26 + (letter - b'0') as usize,
        _ => 36,
    }
}

/// A list's terms by their last letter, each with its last eight letters (lowercase, the last in
/// the low byte) and the mask of those it has: a word ending in `..rd` is compared with
/// `password` only, and `user_id` with nothing. Built at compile time.
struct TermIndex {
    entries: [[(u8, u64, u64); PER_BUCKET]; BUCKETS],
    counts: [u8; BUCKETS],
}

impl TermIndex {
    const fn new(terms: &[&str]) -> TermIndex {
        let mut index = TermIndex { entries: [[(0, 0, 0); PER_BUCKET]; BUCKETS], counts: [0; BUCKETS] };
        let mut term = 0;
        while term < terms.len() {
            let bytes = terms[term].as_bytes();
            let (mut tail, mut mask, mut at, mut letters, mut last) = (0u64, 0u64, bytes.len(), 0, 0);
            while at > 0 && letters < 8 {
                at -= 1;
                if KINDS[bytes[at] as usize] != SEPARATOR {
                    if letters == 0 {
                        last = bytes[at];
                    }
                    tail |= (bytes[at].to_ascii_lowercase() as u64) << (8 * letters);
                    mask |= 0xff << (8 * letters);
                    letters += 1;
                }
            }
            assert!(letters > 0, "a term without letters");
            let bucket = bucket(last);
            let slot = index.counts[bucket] as usize;
            assert!(slot < PER_BUCKET && term <= u8::MAX as usize, "too many terms end in one letter");
            index.entries[bucket][slot] = (term as u8, tail, mask);
            index.counts[bucket] += 1;
            term += 1;
        }
        index
    }
}

const DEFAULT_INDEX: TermIndex = TermIndex::new(DEFAULT_SECRET_NAMES);

#[cfg(any(
    feature = "health-http",
    feature = "health-redis",
    feature = "health-postgres",
    feature = "otlp",
    feature = "alerts",
    feature = "egress"
))]
pub(crate) mod url {
    //! How every message writes a URL.

    /// Shown in place of a URL that cannot be read: it is never echoed, as it may hold a secret.
    pub(crate) const UNREADABLE: &str = "<unparseable URL>";

    /// `url` as a message shows it: the scheme, host and port (when given; both in lowercase),
    /// never the user and password, path, query or fragment (a webhook's path is its secret, a
    /// query may hold an API key). A URL without a scheme is shown as `host:port`; one that cannot
    /// be read, as [`UNREADABLE`].
    pub(crate) fn for_humans(url: &str) -> String {
        scheme_host_port(url.trim()).unwrap_or_else(|| UNREADABLE.to_owned())
    }

    fn scheme_host_port(url: &str) -> Option<String> {
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => {
                let mut chars = scheme.chars();
                let valid = chars.next().is_some_and(|first| first.is_ascii_alphabetic())
                    && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
                (Some(valid.then_some(scheme)?), rest)
            }
            None => (None, url),
        };
        // The authority ends at the path, query or fragment; the user and password at its last `@`.
        let authority = &rest[..rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())];
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
        let (host, port) = match host_port.strip_prefix('[') {
            Some(inside) => {
                let close = inside.find(']')?;
                let (address, after) = (&inside[..close], &inside[close + 1..]);
                let valid = address.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '%'));
                (
                    valid.then_some(&host_port[..close + 2])?,
                    if after.is_empty() { None } else { Some(after.strip_prefix(':')?) },
                )
            }
            None => {
                let (host, port) =
                    host_port.split_once(':').map_or((host_port, None), |(host, port)| (host, Some(port)));
                let valid = host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'));
                (valid.then_some(host)?, port)
            }
        };
        if host.len() > 255 || (host.is_empty() && scheme.is_none()) {
            return None;
        }
        let port = match port {
            None | Some("") => String::new(),
            Some(port) if port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) => {
                format!(":{}", port.parse::<u16>().ok()?)
            }
            Some(_) => return None,
        };
        // Both are case-insensitive: shown in lowercase, as they are compared.
        let host = host.to_ascii_lowercase();
        Some(match scheme {
            Some(scheme) => format!("{}://{host}{port}", scheme.to_ascii_lowercase()),
            None => format!("{host}{port}"),
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn urls_for_humans() {
            for (url, shown) in [
                ("https://user:pw@hooks.example.com/services/T0/B0/S3CRET?x=1#f", "https://hooks.example.com"),
                ("http://127.0.0.1:4318/v1/traces?api_key=S3CRET", "http://127.0.0.1:4318"),
                ("  redis://:pw@cache:6380/0  ", "redis://cache:6380"),
                ("http://[::1]:8080/x", "http://[::1]:8080"),
                ("http://u:pw@[fe80::1%25eth0]/", "http://[fe80::1%25eth0]"),
                ("http://a:b@c@host:1/", "http://host:1"),
                ("user:pw@localhost:4317", "localhost:4317"),
                ("localhost", "localhost"),
                ("HTTPS://Hooks.Example.COM/X", "https://hooks.example.com"),
                ("postgres:///db?host=/run/postgresql&password=pw", "postgres://"),
                ("http://host:/x", "http://host"),
            ] {
                assert_eq!(for_humans(url), shown, "{url}");
            }
            for unreadable in [
                "",
                "not a url with S3CRET",
                "Authorization: Basic dXNlcjpTM0NSRVQ=",
                "http://user:S3CRET/path",
                "http://host:99999",
                "http://host:1234567",
                "1http://host",
                "http://[::1/",
                "http://[::1]x",
                "http://ho st/",
                "/just/a/path",
            ] {
                assert_eq!(for_humans(unreadable), UNREADABLE, "{unreadable}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        const { assert!(is_secret_name("access_token")) };
        for secret in [
            "PASSWORD",
            "set_cookie",
            "Set-Cookie",
            "x-api-key",
            "user.password",
            "ssn",
            "user[password]",
            "user[password][confirm]",
            "pass%77ord",
            "PASS%57ORD",
            "user%5Bpassword%5D",
            "pwd",
            "pass",
            "session",
            "sessionid",
            "session_id",
            "JSESSIONID",
            "PHPSESSID",
            "connect.sid",
            "auth",
            "X-Auth-Token",
            "accessToken",
            "XApiKey",
            "APIKey",
            "apiKey",
            "api key",
            "client_secret",
            "mytoken",
            "csrftoken",
            "password2",
            "password_hint_shown",
            "ssn_verified",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "x-goog-signature",
            "sig",
            "AWSAccessKeyId",
            "private_key",
            "creditCardNumber",
            "é_token",
            "é_token_",
        ] {
            assert!(is_secret_name(secret), "{secret} is a secret");
        }
        for plain in [
            "",
            "author",
            "authority",
            "authors",
            "passenger",
            "passage",
            "bypass",
            "compass",
            "passwords",
            "tokens",
            "tokenizer",
            "tokens_used",
            "sessions_total",
            "user_id",
            "user_name",
            "signal",
            "http.route",
            "db.system",
            "status_code",
            "%",
            "%zz",
            "passw%zzord",
            "pa%73senger",
        ] {
            assert!(!is_secret_name(plain), "{plain} is not a secret");
        }
    }

    #[test]
    fn names_term_takes_any_list() {
        assert!(names_term("user.pin", "pin") && names_term("PIN", "pin") && !names_term("spin", "pin"));
        assert!(names_term("myPinCode", "pin_code") && names_term("x_pincode", "pin-code"));
        assert!(!names_term("anything", "") && !names_term("anything", "_-"));
    }
}
