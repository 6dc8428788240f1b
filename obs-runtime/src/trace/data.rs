//! What a finished span is: the record exporters receive.

use std::borrow::Cow;
use std::sync::Arc;

use crate::context::{SpanContext, SpanId};

/// The OpenTelemetry span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// The handling of a request from a client.
    Server,
    /// A request to a server.
    Client,
    /// The sending of a message to be processed later.
    Producer,
    /// The processing of a message sent by a producer.
    Consumer,
}

impl SpanKind {
    /// The name in the OTLP enum, lowercase (`server`).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// The number in the OTLP enum.
    #[cfg(feature = "otlp")]
    pub(crate) fn otlp(self) -> u64 {
        match self {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(Cow<'static, str>),
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

/// An attribute value, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// A boolean.
    Bool(bool),
}

impl Value {
    /// Borrowed.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Str(text) => ValueRef::Str(text),
            Value::I64(value) => ValueRef::I64(*value),
            Value::F64(value) => ValueRef::F64(*value),
            Value::Bool(value) => ValueRef::Bool(*value),
        }
    }
}

impl From<&'static str> for Value {
    fn from(value: &'static str) -> Value {
        Value::Str(Cow::Borrowed(value))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::Str(Cow::Owned(value))
    }
}

impl From<Cow<'static, str>> for Value {
    fn from(value: Cow<'static, str>) -> Value {
        Value::Str(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::F64(value)
    }
}

impl From<f32> for Value {
    fn from(value: f32) -> Value {
        Value::F64(f64::from(value))
    }
}

macro_rules! int_values {
    ($($int:ty),*) => {$(
        impl From<$int> for Value {
            fn from(value: $int) -> Value {
                Value::I64(i64::from(value))
            }
        }
    )*};
}
int_values!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_int_values {
    ($($int:ty),*) => {$(
        impl From<$int> for Value {
            /// Beyond `i64::MAX` the value is written as a string (OTLP integers are 64-bit signed).
            fn from(value: $int) -> Value {
                i64::try_from(value).map_or_else(|_| Value::Str(Cow::Owned(value.to_string())), Value::I64)
            }
        }
    )*};
}
wide_int_values!(u64, usize, isize, u128, i128);

/// A value a span attribute can be made from by reference: numbers, booleans and strings keep
/// their type; [`span_attributes!`](crate::span_attributes) falls back to `Debug` for the rest.
pub trait ToValue {
    /// The attribute value.
    fn to_value(&self) -> Value;
}

macro_rules! to_value_by_copy {
    ($($ty:ty),*) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
to_value_by_copy!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, u128, i128, f32, f64, bool);

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Str(Cow::Owned(self.to_owned()))
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Str(Cow::Owned(self.clone()))
    }
}

impl ToValue for Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::Str(Cow::Owned(self.as_ref().to_owned()))
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

/// A span's status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    /// Not set (the instrumented code said nothing).
    #[default]
    Unset,
    /// Succeeded.
    Ok,
    /// Failed, with a description.
    Error(Cow<'static, str>),
}

/// A timestamped event in a span (an `exception`, for one).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub(crate) name: Cow<'static, str>,
    pub(crate) time_unix_nanos: u64,
    pub(crate) attributes: Vec<(Cow<'static, str>, Value)>,
    /// `time_unix_nanos` was given as a wall-clock time (not a raw clock reading to convert).
    pub(crate) wall: bool,
}

impl Event {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When it happened, in nanoseconds since the Unix epoch.
    pub fn time_unix_nanos(&self) -> u64 {
        self.time_unix_nanos
    }

    /// Its attributes.
    pub fn attributes(&self) -> &[(Cow<'static, str>, Value)] {
        &self.attributes
    }
}

/// A finished span, as an exporter receives it.
#[derive(Debug, Clone)]
pub struct SpanData {
    pub(crate) name: Cow<'static, str>,
    pub(crate) kind: SpanKind,
    pub(crate) context: SpanContext,
    pub(crate) parent: Option<SpanId>,
    pub(crate) tracestate: Option<Arc<str>>,
    pub(crate) start_unix_nanos: u64,
    pub(crate) end_unix_nanos: u64,
    pub(crate) attributes: Vec<(Cow<'static, str>, Value)>,
    pub(crate) events: Vec<Event>,
    /// Spans it follows from (of this trace or another), not its parent.
    pub(crate) links: Vec<SpanContext>,
    pub(crate) status: Status,
    /// An operation (`#[trace_operation]`, `SpanBuilder::operation`): exported with
    /// `operation.name` and `operation.status`.
    pub(crate) operation: bool,
    /// Attributes and events past the limits, dropped.
    pub(crate) dropped_attributes: u32,
    pub(crate) dropped_events: u32,
    pub(crate) dropped_links: u32,
    /// Which of the start and end were given as wall-clock times ([`WALL_START`], [`WALL_END`]),
    /// not raw clock readings to convert.
    pub(crate) wall_times: u8,
    /// Where the span's code is (a `tracing` span's call site): exported as `code.file.path` and
    /// `code.line.number` after its other attributes, without an attribute vector to fill.
    pub(crate) code_file: Option<&'static str>,
    pub(crate) code_line: Option<u32>,
    /// The most characters of a string attribute value (set on export, when a limit is
    /// configured): `operation.name`, made from the name when read, is cut to it.
    pub(crate) value_limit: Option<usize>,
}

/// Cuts `text` to at most `limit` characters (Unicode scalar values), without allocating.
fn truncate(text: &mut Cow<'static, str>, limit: usize) {
    let length = cut(text, limit).len();
    match text {
        Cow::Borrowed(borrowed) => *borrowed = &borrowed[..length],
        Cow::Owned(owned) => owned.truncate(length),
    }
}

/// The first `limit` characters of `text` (Unicode scalar values).
fn cut(text: &str, limit: usize) -> &str {
    // At most one byte a character: no longer in bytes, no longer in characters.
    if text.len() <= limit {
        return text;
    }
    text.char_indices().nth(limit).map_or(text, |(end, _)| &text[..end])
}

/// [`SpanData::wall_times`]: the start was given.
pub(crate) const WALL_START: u8 = 1;
/// [`SpanData::wall_times`]: the end was given.
pub(crate) const WALL_END: u8 = 2;

impl SpanData {
    /// A span with `name`, `context` and nothing else: for unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(name: impl Into<Cow<'static, str>>, context: SpanContext) -> SpanData {
        SpanData {
            name: name.into(),
            kind: SpanKind::Internal,
            context,
            parent: None,
            tracestate: None,
            start_unix_nanos: 0,
            end_unix_nanos: 0,
            attributes: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            status: Status::Unset,
            operation: false,
            dropped_attributes: 0,
            dropped_events: 0,
            dropped_links: 0,
            wall_times: 0,
            code_file: None,
            code_line: None,
            value_limit: None,
        }
    }

    /// Cuts its string attribute values, and those of its events, to at most `limit` characters.
    pub(crate) fn limit_values(&mut self, limit: usize) {
        self.value_limit = Some(limit);
        let events = self.events.iter_mut().flat_map(|event| event.attributes.iter_mut());
        for (_, value) in self.attributes.iter_mut().chain(events) {
            if let Value::Str(text) = value {
                truncate(text, limit);
            }
        }
        // The call site's path (a `&'static` of the metadata) is cut the same way.
        self.code_file = self.code_file.map(|file| cut(file, limit));
    }

    /// How many attributes its call site gives (`code.file.path`, `code.line.number`).
    pub(crate) fn site_attributes(&self) -> usize {
        usize::from(self.code_file.is_some()) + usize::from(self.code_line.is_some())
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its kind.
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// Its trace and span ids.
    pub fn context(&self) -> SpanContext {
        self.context
    }

    /// Its parent's span id; `None` for a root span.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.parent
    }

    /// The W3C `tracestate` it carries on.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// When it started, in nanoseconds since the Unix epoch.
    pub fn start_unix_nanos(&self) -> u64 {
        self.start_unix_nanos
    }

    /// When it ended, in nanoseconds since the Unix epoch.
    pub fn end_unix_nanos(&self) -> u64 {
        self.end_unix_nanos
    }

    /// Its attributes, with `operation.name` and `operation.status` first for an operation, and
    /// `code.file.path` and `code.line.number` last for a `tracing` span's call site.
    pub fn attributes(&self) -> impl Iterator<Item = (&str, ValueRef<'_>)> + '_ {
        let operation = self.operation.then(|| {
            let status = if matches!(self.status, Status::Error(_)) { "error" } else { "success" };
            let limited = |text| self.value_limit.map_or(text, |limit| cut(text, limit));
            [
                ("operation.name", ValueRef::Str(limited(&self.name))),
                ("operation.status", ValueRef::Str(limited(status))),
            ]
        });
        let file = self.code_file.map(|file| ("code.file.path", ValueRef::Str(file)));
        let line = self.code_line.map(|line| ("code.line.number", ValueRef::I64(i64::from(line))));
        operation
            .into_iter()
            .flatten()
            .chain(self.attributes.iter().map(|(key, value)| (key.as_ref(), value.as_ref())))
            .chain(file)
            .chain(line)
    }

    /// Its events.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The spans it is linked to (a `tracing` span's `follows_from`).
    pub fn links(&self) -> &[SpanContext] {
        &self.links
    }

    /// Its status.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Attributes dropped past the limit of 128.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.dropped_attributes
    }

    /// Events dropped past the limit of 128.
    pub fn dropped_events_count(&self) -> u32 {
        self.dropped_events
    }

    /// Links dropped past the limit of 128.
    pub fn dropped_links_count(&self) -> u32 {
        self.dropped_links
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cut_to_the_limit_in_characters_at_a_character_boundary() {
        // Catches: a limit counted in bytes (a cut inside a character would panic, or keep fewer
        // characters than allowed), a value at the limit cut, or an owned value reallocated.
        let cases: [(&str, usize, &str); 6] = [
            ("SELECT name FROM users", 8, "SELECT n"),
            ("12345678", 8, "12345678"),
            ("short", 8, "short"),
            ("héllo wörld", 4, "héll"),
            ("日本語のテキスト", 2, "日本"),
            ("🦀🦀🦀", 1, "🦀"),
        ];
        for (text, limit, cut) in cases {
            let mut borrowed: Cow<'static, str> = Cow::Borrowed(text);
            truncate(&mut borrowed, limit);
            assert!(matches!(borrowed, Cow::Borrowed(_)), "{text}");
            assert_eq!(borrowed, cut, "{text} to {limit}");
            let mut owned: Cow<'static, str> = Cow::Owned(text.to_owned());
            let buffer = owned.as_ptr();
            truncate(&mut owned, limit);
            assert_eq!(owned, cut, "{text} to {limit}, owned");
            assert_eq!(owned.as_ptr(), buffer, "cut in place");
        }
    }

    #[test]
    fn a_limit_cuts_span_and_event_strings_and_the_call_site_and_nothing_else() {
        let context = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("a valid traceparent");
        let mut span = SpanData::for_test("a_name_longer_than_the_limit", context);
        span.attributes = vec![
            (Cow::Borrowed("text"), Value::Str(Cow::Borrowed("abcdefgh"))),
            (Cow::Borrowed("number"), Value::I64(1_234_567_890)),
            (Cow::Borrowed("ratio"), Value::F64(0.123_456_789)),
        ];
        span.events = vec![Event {
            name: Cow::Borrowed("exception"),
            time_unix_nanos: 0,
            attributes: vec![(Cow::Borrowed("exception.message"), Value::Str(Cow::Owned("disk full".to_owned())))],
            wall: false,
        }];
        span.code_file = Some("src/handlers/users.rs");
        span.code_line = Some(123_456);
        span.status = Status::Error(Cow::Borrowed("disk full"));
        span.operation = true;
        span.limit_values(3);
        let attributes: Vec<(&str, ValueRef<'_>)> = span.attributes().collect();
        assert_eq!(
            attributes,
            [
                ("operation.name", ValueRef::Str("a_n")),
                ("operation.status", ValueRef::Str("err")),
                ("text", ValueRef::Str("abc")),
                ("number", ValueRef::I64(1_234_567_890)),
                ("ratio", ValueRef::F64(0.123_456_789)),
                ("code.file.path", ValueRef::Str("src")),
                ("code.line.number", ValueRef::I64(123_456)),
            ]
        );
        assert_eq!(span.events()[0].attributes()[0].1.as_ref(), ValueRef::Str("dis"));
        assert_eq!((span.name(), span.status()), ("a_name_longer_than_the_limit", &Status::Error("disk full".into())));
    }
}
