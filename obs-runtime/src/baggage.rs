//! W3C Baggage: `key=value` pairs a request carries from service to service (a tenant, a
//! feature flag), read from the `baggage` header when `OTEL_PROPAGATORS` (or
//! [`TraceConfig::propagators`](crate::trace::TraceConfig::propagators)) names `baggage`, and
//! written into outgoing requests by [`inject`](crate::trace::inject) and
//! [`client_request`](crate::trace::client_request).
//!
//! The baggage of the running code is [`Baggage::current`]: the tower layer makes a request's
//! baggage current while its handler runs (across `.await`s); [`Baggage::scope`] and
//! [`Baggage::attach`] make any baggage current, and `Span::current().scope(..)` /
//! `.bind(..)` carry it into spawned tasks and threads with the span. Baggage is never copied into
//! span attributes or log lines, except the keys named to
//! [`TraceConfig::baggage_attributes`](crate::trace::TraceConfig::baggage_attributes): those become
//! attributes of each span that starts while they are in the baggage.
//!
//! The specification's limits hold: at most 180 entries, 4,096 bytes each and 8,192 bytes in all
//! as a header; values are percent-encoded in the header (and decoded here); an entry's properties
//! (`;key=value` after it) are kept as they came.
//!
//! ```
//! use obs_runtime::baggage::Baggage;
//!
//! let baggage = Baggage::current().with("tenant", "acme corp")?;
//! let _current = baggage.attach();
//! assert_eq!(Baggage::current().get("tenant"), Some("acme corp"));
//! # Ok::<(), obs_runtime::baggage::BaggageError>(())
//! ```

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The most entries a baggage has.
pub const MAX_ENTRIES: usize = 180;
/// The longest an entry may be in the header (`key=value;properties`), in bytes.
pub const MAX_ENTRY_BYTES: usize = 4096;
/// The longest the `baggage` header may be, in bytes.
pub const MAX_BYTES: usize = 8192;

/// The baggage of a request's `baggage` headers when the `baggage` propagator is configured
/// (empty otherwise, or when they hold no valid entry): for servers without the tower layer, which
/// does this by itself. Make it current with [`Baggage::scope`] around the request's handling.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("baggage", "tenant=acme".parse().unwrap());
/// // Not configured (`OTEL_PROPAGATORS` without `baggage`): none is read.
/// assert!(obs_runtime::baggage::extract(&headers).is_empty());
/// ```
pub fn extract(headers: &http::HeaderMap) -> Baggage {
    crate::trace::propagation::extract_baggage(headers).unwrap_or_default()
}

/// An immutable set of entries; cheap to clone. `Baggage::default()` is empty.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Option<Arc<Vec<Entry>>>);

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    key: String,
    value: String,
    /// As they came after the value, without the first `;`: `p1;p2=v2`.
    properties: String,
}

impl Entry {
    /// Its length in the header.
    fn encoded_len(&self) -> usize {
        // An escaped byte takes three.
        let value: usize = self.value.bytes().map(|byte| if plain(byte) { 1 } else { 3 }).sum();
        self.key.len() + 1 + value + if self.properties.is_empty() { 0 } else { 1 + self.properties.len() }
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys only: values may be personal data.
        f.debug_tuple("Baggage").field(&self.keys().collect::<Vec<_>>()).finish()
    }
}

/// Why an entry was not added: its key is not a token, or the baggage would pass a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaggageError(String);

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BaggageError {}

thread_local! {
    static CURRENT: RefCell<Option<Baggage>> = const { RefCell::new(None) };
}

impl Baggage {
    /// The baggage of the running code (empty when none is current).
    pub fn current() -> Baggage {
        CURRENT.with(|current| current.borrow().clone()).unwrap_or_default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries().iter().find(|entry| entry.key == key).map(|entry| entry.value.as_str())
    }

    /// The properties of `key`'s entry as they came (`p1;p2=v2`), if it has any.
    pub fn properties(&self, key: &str) -> Option<&str> {
        let entry = self.entries().iter().find(|entry| entry.key == key)?;
        (!entry.properties.is_empty()).then_some(entry.properties.as_str())
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries().iter().map(|entry| entry.key.as_str())
    }

    /// The `(key, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries().iter().map(|entry| (entry.key.as_str(), entry.value.as_str()))
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    fn entries(&self) -> &[Entry] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// This baggage with `key` set to `value` (replacing its entry, properties included). `Err`
    /// when `key` is not an HTTP token, or the baggage would pass a limit (180 entries, 4,096
    /// bytes an entry, 8,192 in all).
    pub fn with(&self, key: impl Into<String>, value: impl Into<String>) -> Result<Baggage, BaggageError> {
        let (key, value) = (key.into(), value.into());
        if !is_token(&key) {
            return Err(BaggageError("a baggage key is an HTTP token (letters, digits and !#$%&'*+-.^_`|~)".into()));
        }
        let mut entries: Vec<Entry> = self.entries().iter().filter(|entry| entry.key != key).cloned().collect();
        entries.push(Entry { key, value, properties: String::new() });
        let entry_bytes = entries.last().map_or(0, Entry::encoded_len);
        if entries.len() > MAX_ENTRIES {
            return Err(BaggageError(format!("a baggage has at most {MAX_ENTRIES} entries")));
        }
        if entry_bytes > MAX_ENTRY_BYTES {
            return Err(BaggageError(format!("a baggage entry is at most {MAX_ENTRY_BYTES} bytes in the header")));
        }
        if header_len(&entries) > MAX_BYTES {
            return Err(BaggageError(format!("a baggage is at most {MAX_BYTES} bytes in the header")));
        }
        Ok(Baggage(Some(Arc::new(entries))))
    }

    /// This baggage without `key`.
    pub fn without(&self, key: &str) -> Baggage {
        let entries: Vec<Entry> = self.entries().iter().filter(|entry| entry.key != key).cloned().collect();
        Baggage((!entries.is_empty()).then(|| Arc::new(entries)))
    }

    /// Makes it the current baggage of this thread until the guard drops (which restores the
    /// previous one). The guard cannot move to another thread.
    pub fn attach(self) -> BaggageGuard {
        let previous = CURRENT.with(|current| current.replace(Some(self)));
        BaggageGuard { previous, _not_send: PhantomData }
    }

    /// `future` with this baggage current whenever it runs (each poll, on whichever thread).
    pub fn scope<F: Future>(self, future: F) -> WithBaggage<F> {
        WithBaggage { future, baggage: Some(self) }
    }

    /// The baggage of `baggage` header values (several headers are one list, in order): entries
    /// that are malformed are left out, and so are those past a limit (whole, never cut).
    pub(crate) fn from_header<'a>(values: impl IntoIterator<Item = &'a str>) -> Baggage {
        let mut entries: Vec<Entry> = Vec::new();
        // The header's length as kept, and as read: what is past twice the limit is not read
        // (a sender that sends more than the limit gets no more than it for its trouble).
        let (mut kept_bytes, mut read_bytes) = (0usize, 0usize);
        for member in values.into_iter().flat_map(|value| value.split(',')) {
            read_bytes += member.len() + 1;
            if read_bytes > 2 * MAX_BYTES {
                break;
            }
            let Some(entry) = parse_entry(member) else { continue };
            let length = entry.encoded_len();
            if length > MAX_ENTRY_BYTES {
                continue;
            }
            // A later entry of the same key replaces the earlier, if it fits in its place.
            match entries.iter().position(|kept| kept.key == entry.key) {
                Some(index) => {
                    let total = kept_bytes - entries[index].encoded_len() + length;
                    if total <= MAX_BYTES {
                        kept_bytes = total;
                        entries[index] = entry;
                    }
                }
                None => {
                    let total = kept_bytes + length + usize::from(!entries.is_empty());
                    if entries.len() < MAX_ENTRIES && total <= MAX_BYTES {
                        kept_bytes = total;
                        entries.push(entry);
                    }
                }
            }
        }
        Baggage((!entries.is_empty()).then(|| Arc::new(entries)))
    }

    /// The `baggage` header value; `None` when empty.
    pub(crate) fn to_header(&self) -> Option<String> {
        let entries = self.entries();
        if entries.is_empty() {
            return None;
        }
        let mut header = String::with_capacity(header_len(entries));
        for entry in entries {
            if !header.is_empty() {
                header.push(',');
            }
            header.push_str(&entry.key);
            header.push('=');
            header.push_str(&encode(&entry.value));
            if !entry.properties.is_empty() {
                header.push(';');
                header.push_str(&entry.properties);
            }
        }
        Some(header)
    }
}

/// The header's length for these entries (commas included).
fn header_len(entries: &[Entry]) -> usize {
    entries.iter().map(Entry::encoded_len).sum::<usize>() + entries.len().saturating_sub(1)
}

/// `key OWS "=" OWS value *( OWS ";" OWS property )`, the value percent-decoded.
fn parse_entry(member: &str) -> Option<Entry> {
    let member = member.trim_matches([' ', '\t']);
    let (pair, properties) = member.split_once(';').unwrap_or((member, ""));
    let (key, value) = pair.split_once('=')?;
    let (key, value) = (key.trim_matches([' ', '\t']), value.trim_matches([' ', '\t']));
    if !is_token(key) || !value.bytes().all(is_baggage_octet) {
        return None;
    }
    // Bytes that are not UTF-8 become U+FFFD, as W3C Baggage says.
    let value = String::from_utf8_lossy(&crate::percent::decode_bytes(value)?).into_owned();
    let properties: Vec<&str> =
        properties.split(';').map(|property| property.trim_matches([' ', '\t'])).filter(|p| !p.is_empty()).collect();
    let valid = properties.iter().all(|property| match property.split_once('=') {
        Some((key, value)) => {
            is_token(key.trim_matches([' ', '\t'])) && value.trim_matches([' ', '\t']).bytes().all(is_baggage_octet)
        }
        None => is_token(property),
    });
    valid.then(|| Entry { key: key.to_owned(), value, properties: properties.join(";") })
}

/// The entries of the current baggage named by `keys`, as span attributes (the key as the
/// attribute's name; a secret-named key's value redacted).
pub(crate) fn named_attributes(keys: &[String]) -> Vec<(std::borrow::Cow<'static, str>, crate::trace::Value)> {
    let baggage = Baggage::current();
    keys.iter()
        .filter_map(|key| {
            let value = baggage.get(key)?;
            let value = if crate::is_secret_name(key) { crate::secret::REDACTED.to_owned() } else { value.to_owned() };
            Some((std::borrow::Cow::Owned(key.clone()), crate::trace::Value::Str(value.into())))
        })
        .collect()
}

/// Whether `key` can be a baggage key (an HTTP token).
pub(crate) fn is_key(key: &str) -> bool {
    is_token(key)
}

/// RFC 9110's `token`.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`.
fn is_baggage_octet(byte: u8) -> bool {
    matches!(byte, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

/// Whether `byte` goes into a header value as it is (a baggage octet, not `%`).
fn plain(byte: u8) -> bool {
    is_baggage_octet(byte) && byte != b'%'
}

/// `value` with every byte that is not a baggage octet, and `%`, percent-encoded.
fn encode(value: &str) -> std::borrow::Cow<'_, str> {
    if value.bytes().all(plain) {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for byte in value.bytes() {
        if plain(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Keeps a baggage current; see [`Baggage::attach`].
#[derive(Debug)]
#[must_use = "the baggage stops being current when the guard drops"]
pub struct BaggageGuard {
    previous: Option<Baggage>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for BaggageGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

/// A future run with a baggage current; see [`Baggage::scope`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct WithBaggage<F> {
    future: F,
    /// `None`: run as it is (a span's scope carrying no baggage costs nothing).
    baggage: Option<Baggage>,
}

impl<F> WithBaggage<F> {
    /// `future` with `baggage` current, or as it is when `baggage` is empty.
    pub(crate) fn carrying(baggage: Baggage, future: F) -> WithBaggage<F> {
        WithBaggage { future, baggage: (!baggage.is_empty()).then_some(baggage) }
    }
}

impl<F: Future> Future for WithBaggage<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out of `self`, which is pinned
        // (WithBaggage has no Drop and no Unpin impl of its own); `baggage` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let _current = this.baggage.clone().map(Baggage::attach);
        // SAFETY: see above.
        unsafe { Pin::new_unchecked(&mut this.future) }.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_examples_parse_and_properties_are_kept() {
        let baggage = Baggage::from_header([
            "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
            "userId=alice,serverNode=DF%2028,isProduction=false",
        ]);
        assert_eq!(
            baggage.iter().collect::<Vec<_>>(),
            [
                ("key1", "value1"),
                ("key2", "value2"),
                ("key3", "value3"),
                ("userId", "alice"),
                ("serverNode", "DF 28"),
                ("isProduction", "false")
            ]
        );
        assert_eq!(baggage.properties("key1"), Some("property1;property2"));
        assert_eq!(baggage.properties("key3"), Some("propertyKey=propertyValue"));
        assert_eq!(baggage.properties("key2"), None);
        assert_eq!(
            baggage.to_header().as_deref(),
            Some(
                "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue,userId=alice,\
                 serverNode=DF%2028,isProduction=false"
            )
        );
    }

    #[test]
    fn malformed_entries_are_left_out_and_the_rest_kept() {
        let baggage = Baggage::from_header([
            "good=1, no-value, =nokey, bad key=2, q=\"quoted\", esc=%zz, plus=%+1, ok=2,dup=a,dup=b,bytes=%FF%41",
        ]);
        assert_eq!(
            baggage.iter().collect::<Vec<_>>(),
            [("good", "1"), ("ok", "2"), ("dup", "b"), ("bytes", "\u{fffd}A")],
            "malformed escapes drop their entry; bytes that are not UTF-8 become U+FFFD"
        );
        // A replacement that does not fit leaves the earlier entry in place.
        let big = format!(
            "k=small,{},k={}",
            (0..4).map(|i| format!("f{i}={}", "v".repeat(2000))).collect::<Vec<_>>().join(","),
            "v".repeat(2000)
        );
        assert_eq!(Baggage::from_header([big.as_str()]).get("k"), Some("small"));
        // A header is not read past twice the limit: an entry after 20,000 bytes of junk is not.
        let flood = format!("{}late=1", "x,".repeat(10_000));
        assert_eq!(Baggage::from_header([flood.as_str()]).get("late"), None);
        assert_eq!(Baggage::from_header(["x,x,late=1"]).get("late"), Some("1"));
        assert!(Baggage::from_header(["", " , "]).is_empty());
    }

    #[test]
    fn values_are_percent_encoded_and_round_trip() {
        let baggage = Baggage::default().with("note", "a,b;c=d 100% \"é\"").expect("a token key");
        let header = baggage.to_header().expect("an entry");
        assert_eq!(header, "note=a%2Cb%3Bc=d%20100%25%20%22%C3%A9%22");
        assert_eq!(Baggage::from_header([header.as_str()]).get("note"), Some("a,b;c=d 100% \"é\""));
    }

    #[test]
    fn the_limits_hold_and_whole_entries_are_dropped() {
        let mut baggage = Baggage::default();
        for index in 0..MAX_ENTRIES {
            baggage = baggage.with(format!("k{index}"), "v").expect("within the limits");
        }
        assert!(baggage.with("one_more", "v").is_err(), "181 entries");
        assert!(baggage.with("k0", "replaced").is_ok(), "a replacement is not one more");
        assert!(Baggage::default().with("big", "v".repeat(MAX_ENTRY_BYTES)).is_err());
        assert!(Baggage::default().with("big", "v".repeat(MAX_ENTRY_BYTES - 4)).is_ok(), "big=… is 4,096 bytes");
        assert!(Baggage::default().with("not a token", "v").is_err());
        // From a header: past 180 entries, and past 8,192 bytes, entries are left out whole.
        let many: Vec<String> = (0..200).map(|index| format!("k{index}=v")).collect();
        assert_eq!(Baggage::from_header([many.join(",").as_str()]).len(), MAX_ENTRIES);
        let large: Vec<String> = (0..5).map(|index| format!("k{index}={}", "v".repeat(2000))).collect();
        let kept = Baggage::from_header([large.join(",").as_str()]);
        assert_eq!(kept.len(), 4, "four of 2,003 bytes and three commas fit in 8,192");
        assert!(kept.to_header().is_some_and(|header| header.len() <= MAX_BYTES));
        let over_entry = format!("huge={},small=1", "v".repeat(MAX_ENTRY_BYTES));
        assert_eq!(Baggage::from_header([over_entry.as_str()]).keys().collect::<Vec<_>>(), ["small"]);
    }

    #[test]
    fn it_follows_the_code_across_awaits_and_guards_nest() {
        let outer = Baggage::default().with("a", "1").expect("valid");
        let inner = outer.with("b", "2").expect("valid");
        {
            let _outer = outer.clone().attach();
            {
                let _inner = inner.clone().attach();
                assert_eq!(Baggage::current(), inner);
            }
            assert_eq!(Baggage::current(), outer);
        }
        assert!(Baggage::current().is_empty());
        let mut polls = 0;
        let mut future = std::pin::pin!(inner.clone().scope(std::future::poll_fn(|cx| {
            assert_eq!(Baggage::current().get("b"), Some("2"));
            polls += 1;
            if polls < 3 {
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while future.as_mut().poll(&mut cx).is_pending() {
            assert!(Baggage::current().is_empty(), "between polls, none");
        }
        assert!(!format!("{inner:?}").contains('2'), "Debug shows keys only: {inner:?}");
    }
}
