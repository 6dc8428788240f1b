//! `%XX` decoding, for the parts of URLs and `key=value` lists obs reads from configuration.

/// `text` with its `%XX` escapes decoded; `None` for a malformed escape or a result that is not
/// UTF-8. The caller names what was wrong (the text may be a secret).
pub(crate) fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_and_refuses() {
        assert_eq!(super::decode("p%40ss%3Aword").as_deref(), Some("p@ss:word"));
        assert_eq!(super::decode("100%"), None);
        assert_eq!(super::decode("%zz"), None);
        assert_eq!(super::decode("%ff"), None, "not UTF-8");
    }
}
