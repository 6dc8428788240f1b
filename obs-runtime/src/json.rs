//! A JSON line writer into a reused byte buffer: correct escaping for any input, and a byte
//! budget that truncates values (with a marker) instead of growing without bound.

use std::fmt;

/// Written in place of what did not fit.
pub(crate) const TRUNCATED: &str = "...[truncated]";

/// One line being written. `limit` is the most bytes of values it takes; past it, strings are cut
/// at a character boundary with [`TRUNCATED`] and later fields are skipped.
pub(crate) struct Json<'a> {
    out: &'a mut Vec<u8>,
    limit: usize,
    /// Set once something was cut or skipped.
    pub(crate) truncated: bool,
}

impl<'a> Json<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize) -> Json<'a> {
        Json { out, limit, truncated: false }
    }

    pub(crate) fn raw(&mut self, bytes: &str) {
        self.out.extend_from_slice(bytes.as_bytes());
    }

    /// Room left for values.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(self.out.len())
    }

    /// `"text"`, escaped, cut to the room left.
    pub(crate) fn string(&mut self, text: &str) {
        self.out.push(b'"');
        let mut writer = Escaper { json: self, full: false };
        let _ = fmt::Write::write_str(&mut writer, text);
        self.out.push(b'"');
    }

    /// `"<Display or Debug of value>"`, escaped as it is formatted, cut to the room left: a huge
    /// `Debug` never allocates more than the limit.
    pub(crate) fn string_fmt(&mut self, value: fmt::Arguments<'_>) {
        self.out.push(b'"');
        let mut writer = Escaper { json: self, full: false };
        // An error only means the room ran out.
        let _ = fmt::write(&mut writer, value);
        self.out.push(b'"');
    }

    #[cfg(feature = "logging")]
    /// Bytes as a string: valid UTF-8 as is, anything else with U+FFFD for each bad sequence.
    pub(crate) fn string_bytes(&mut self, bytes: &[u8]) {
        self.out.push(b'"');
        let mut writer = Escaper { json: self, full: false };
        for chunk in bytes.utf8_chunks() {
            if fmt::Write::write_str(&mut writer, chunk.valid()).is_err() {
                break;
            }
            if !chunk.invalid().is_empty() && fmt::Write::write_str(&mut writer, "\u{fffd}").is_err() {
                break;
            }
        }
        self.out.push(b'"');
    }

    pub(crate) fn i64(&mut self, value: i64) {
        let mut buffer = [0; 20];
        self.out.extend_from_slice(format_int(&mut buffer, value.unsigned_abs(), value < 0));
    }

    pub(crate) fn u64(&mut self, value: u64) {
        let mut buffer = [0; 20];
        self.out.extend_from_slice(format_int(&mut buffer, value, false));
    }

    /// A number, always whole (a cut number would not be JSON); JSON has no NaN or infinities,
    /// which are written as strings.
    pub(crate) fn f64(&mut self, value: f64) {
        if value.is_finite() {
            struct Bytes<'v>(&'v mut Vec<u8>);
            impl fmt::Write for Bytes<'_> {
                fn write_str(&mut self, text: &str) -> fmt::Result {
                    self.0.extend_from_slice(text.as_bytes());
                    Ok(())
                }
            }
            let _ = fmt::Write::write_fmt(&mut Bytes(self.out), format_args!("{value:?}"));
        } else {
            self.string(if value.is_nan() {
                "NaN"
            } else if value > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            });
        }
    }

    pub(crate) fn bool(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }

    pub(crate) fn null(&mut self) {
        self.raw("null");
    }
}

fn format_int(buffer: &mut [u8; 20], mut value: u64, negative: bool) -> &[u8] {
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    if negative {
        // |i64::MIN| has 19 digits: there is room for the sign.
        start -= 1;
        buffer[start] = b'-';
    }
    &buffer[start..]
}

/// Escapes what is written into the line; stops (with the marker) when the room runs out.
struct Escaper<'j, 'a> {
    json: &'j mut Json<'a>,
    full: bool,
}

impl Escaper<'_, '_> {
    /// Writes `text` unescaped (it needs none), cut at a character boundary if the room ends.
    fn plain(&mut self, text: &str) -> fmt::Result {
        let room = self.json.room().saturating_sub(TRUNCATED.len());
        if text.len() <= room {
            self.json.out.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.json.out.extend_from_slice(&text.as_bytes()[..cut]);
        self.stop()
    }

    fn stop(&mut self) -> fmt::Result {
        self.json.out.extend_from_slice(TRUNCATED.as_bytes());
        self.json.truncated = true;
        self.full = true;
        Err(fmt::Error)
    }

    fn escape(&mut self, ch: char) -> fmt::Result {
        // The longest escape is 6 bytes; keep room for the marker.
        if self.json.room() < 6 + TRUNCATED.len() {
            return self.stop();
        }
        let out = &mut *self.json.out;
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            ch => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let code = ch as u32;
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[((code >> shift) & 0xf) as usize]);
                }
            }
        }
        Ok(())
    }
}

impl fmt::Write for Escaper<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if self.full {
            return Err(fmt::Error);
        }
        // Runs that need no escaping are copied whole; only the rare escaped characters are
        // written one by one. Every such character starts with a byte below 0x80 except U+2028
        // and U+2029 (E2 80 A8 / E2 80 A9), so bytes are scanned, not characters.
        let bytes = text.as_bytes();
        let mut start = 0;
        let mut index = 0;
        while index < bytes.len() {
            let byte = bytes[index];
            let escaped = match byte {
                b'"' | b'\\' | 0x00..=0x1f | 0x7f => Some((char::from(byte), 1)),
                0xe2 if bytes.get(index + 1) == Some(&0x80) && matches!(bytes.get(index + 2), Some(0xa8 | 0xa9)) => {
                    Some((if bytes[index + 2] == 0xa8 { '\u{2028}' } else { '\u{2029}' }, 3))
                }
                _ => None,
            };
            match escaped {
                Some((ch, width)) => {
                    self.plain(&text[start..index])?;
                    self.escape(ch)?;
                    index += width;
                    start = index;
                }
                None => index += 1,
            }
        }
        self.plain(&text[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(limit: usize, write: impl FnOnce(&mut Json<'_>)) -> String {
        let mut out = Vec::new();
        let mut json = Json::new(&mut out, limit);
        write(&mut json);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn escapes() {
        let text = one(1000, |json| json.string("a\"b\\c\nd\u{1}e\u{7f}\u{2028}é"));
        assert_eq!(text, "\"a\\\"b\\\\c\\nd\\u0001e\\u007f\\u2028é\"");
        #[cfg(feature = "logging")]
        assert_eq!(one(1000, |json| json.string_bytes(b"ok\xff\xfe!")), "\"ok\u{fffd}\u{fffd}!\"");
    }

    #[test]
    fn numbers() {
        assert_eq!(one(100, |json| json.i64(i64::MIN)), "-9223372036854775808");
        assert_eq!(one(100, |json| json.u64(u64::MAX)), "18446744073709551615");
        assert_eq!(one(100, |json| json.i64(0)), "0");
        assert_eq!(one(100, |json| json.f64(1.5)), "1.5");
        assert_eq!(one(100, |json| json.f64(150.0)), "150.0");
        assert_eq!(one(100, |json| json.f64(f64::NAN)), "\"NaN\"");
    }

    #[test]
    fn huge_values_are_cut_at_the_limit() {
        let text = one(64, |json| json.string_fmt(format_args!("{:?}", vec![7u8; 10_000])));
        assert!(text.len() <= 64 + 2, "{}", text.len());
        assert!(text.ends_with(&format!("{TRUNCATED}\"")), "{text}");
        // Multi-byte characters are never split.
        let text = one(40, |json| json.string(&"é".repeat(100)));
        assert!(text.ends_with(&format!("{TRUNCATED}\"")), "{text}");
    }
}
